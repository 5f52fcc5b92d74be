import { PortCandidates } from './port-candidates.js';
import type { Classification } from './types.js';

class BitNode {
  zero: BitNode | null = null;
  one: BitNode | null = null;
  candidates: PortCandidates | null = null;
}

function bitAt(bytes: readonly number[], bit: number): number {
  return (bytes[bit >> 3]! >> (7 - (bit & 7))) & 1;
}

/**
 * Longest-prefix match for one address family (DESIGN 4.1 step 4): a binary trie, one level per
 * prefix bit. Lookup walks at most 32 (IPv4) or 128 (IPv6) bits, whatever the number of CIDRs.
 */
export class CidrTrie {
  private readonly root = new BitNode();
  private size = 0;

  get isEmpty(): boolean {
    return this.size === 0;
  }

  add(bytes: readonly number[], prefixLength: number, match: Classification, ports: ReadonlySet<number> | null): void {
    let node = this.root;
    for (let bit = 0; bit < prefixLength; bit++) {
      if (bitAt(bytes, bit) === 1) node = node.one ??= new BitNode();
      else node = node.zero ??= new BitNode();
    }
    node.candidates ??= new PortCandidates();
    node.candidates.add(match, ports);
    this.size++;
  }

  /** The longest prefix containing the address that has an app valid for `port`. */
  lookup(bytes: readonly number[], port: number | undefined): Classification | null {
    let node: BitNode | null = this.root;
    let best = node.candidates?.pick(port) ?? null;
    const bits = bytes.length * 8;
    for (let bit = 0; bit < bits; bit++) {
      node = bitAt(bytes, bit) === 1 ? node.one : node.zero;
      if (node === null) break;
      if (node.candidates !== null) {
        const match = node.candidates.pick(port);
        if (match !== null) best = match;
      }
    }
    return best;
  }
}
