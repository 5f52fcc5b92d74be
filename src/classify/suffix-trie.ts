import { PortCandidates } from './port-candidates.js';
import type { Classification } from './types.js';

class LabelNode {
  readonly children = new Map<string, LabelNode>();
  candidates: PortCandidates | null = null;
}

/**
 * `*.` suffix rules (DESIGN 4.1 step 3) in a trie keyed by labels from the right
 * (`*.tile.amap.com` → com → amap → tile). Lookup walks the record host's labels right to left,
 * so its cost depends on the host's label count, not on the number of rules.
 */
export class SuffixTrie {
  private readonly root = new LabelNode();
  private size = 0;

  get isEmpty(): boolean {
    return this.size === 0;
  }

  /** `suffix` is normalised (DESIGN 4.1) and has no `*.` prefix. */
  add(suffix: string, match: Classification, ports: ReadonlySet<number> | null): void {
    const labels = suffix.split('.');
    let node = this.root;
    for (let i = labels.length - 1; i >= 0; i--) {
      const label = labels[i]!;
      let child = node.children.get(label);
      if (child === undefined) {
        child = new LabelNode();
        node.children.set(label, child);
      }
      node = child;
    }
    node.candidates ??= new PortCandidates();
    node.candidates.add(match, ports);
    this.size++;
  }

  /**
   * The longest suffix strictly below which `host` lies and that has an app valid for `port`.
   * A node is considered only while at least one more label of the host remains to its left:
   * `*.amap.com` matches `a.amap.com` and `a.b.amap.com`, never `amap.com` itself.
   */
  lookup(host: string, port: number | undefined): Classification | null {
    let best: Classification | null = null;
    let node = this.root;
    let end = host.length;
    for (;;) {
      const dot = end === 0 ? -1 : host.lastIndexOf('.', end - 1);
      const next = node.children.get(host.slice(dot + 1, end));
      if (next === undefined) break;
      node = next;
      // the whole host consumed: this node is the apex, which `*.` never matches
      if (dot === -1) break;
      if (node.candidates !== null) {
        const match = node.candidates.pick(port);
        if (match !== null) best = match;
      }
      end = dot;
    }
    return best;
  }
}
