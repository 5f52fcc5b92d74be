-- Up Migration

-- Every change of a (vehicle, app) control state (issue 14, the operator console's rev history): the reason
-- set each rev took and when. Written by src/controls/repository.ts in the transaction that changes
-- control_states (only when a set changes, so only a handful of rows per vehicle and month); read by the
-- console's vehicle page. (0016 is the usage alerts.)
CREATE TABLE control_state_history (
  vin        text        NOT NULL,
  app        text        NOT NULL,
  rev        integer     NOT NULL CHECK (rev > 0),
  reasons    text[]      NOT NULL,
  changed_at timestamptz NOT NULL,
  PRIMARY KEY (vin, app, rev)
);
-- The states as they stand: each one's current rev (earlier revs were not kept before this table).
INSERT INTO control_state_history (vin, app, rev, reasons, changed_at) SELECT vin, app, rev, reasons, changed_at FROM control_states;

-- Down Migration
DROP TABLE control_state_history;
