-- Up Migration

-- Which card a vehicle had when (DESIGN 5 SIM swap, DESIGN 6): one row per binding, half-open
-- [valid_from, valid_to). `valid_from` NULL is the production binding (the card the vehicle was built
-- with: it covers everything before the first swap); `valid_to` NULL is the current card. Usage is keyed
-- by VIN, so a per-card reconciliation joins usage to this table by time. Who bound and unbound each card
-- is recorded on the row: a swap closes one row and opens the next in one transaction.
CREATE TABLE vehicle_iccid_history (
  id          bigserial   PRIMARY KEY,
  vin         text        NOT NULL REFERENCES vehicles (vin),
  iccid       text        NOT NULL,
  valid_from  timestamptz,
  valid_to    timestamptz,
  bound_by    text        NOT NULL,
  bound_at    timestamptz NOT NULL,
  unbound_by  text,
  reason      text        NOT NULL,
  CHECK (valid_from IS NULL OR valid_to IS NULL OR valid_from <= valid_to),
  CHECK ((valid_to IS NULL) = (unbound_by IS NULL))
);
CREATE UNIQUE INDEX vehicle_iccid_history_current ON vehicle_iccid_history (vin) WHERE valid_to IS NULL;
CREATE UNIQUE INDEX vehicle_iccid_history_current_card ON vehicle_iccid_history (iccid) WHERE valid_to IS NULL;
CREATE INDEX vehicle_iccid_history_vin ON vehicle_iccid_history (vin, id);
CREATE INDEX vehicle_iccid_history_card ON vehicle_iccid_history (iccid, id);
INSERT INTO vehicle_iccid_history (vin, iccid, valid_from, valid_to, bound_by, bound_at, reason)
  SELECT vin, iccid, NULL, NULL, 'registration', created_at, 'bound at production' FROM vehicles;

-- The vehicle user (DESIGN 6, MIIT notice 2021-246) is the owner of the car, not of a card: the
-- registration follows the vehicle through a SIM swap. It moves from sims to vehicles.
ALTER TABLE vehicles ADD COLUMN owner_subject_id bigint REFERENCES realname_subjects (id);
UPDATE vehicles v SET owner_subject_id = s.owner_subject_id FROM sims s WHERE s.iccid = v.iccid AND s.owner_subject_id IS NOT NULL;
ALTER TABLE sims DROP CONSTRAINT sims_owner_fk;
ALTER TABLE sims DROP COLUMN owner_subject_id;

-- Down Migration
ALTER TABLE sims ADD COLUMN owner_subject_id bigint;
UPDATE sims s SET owner_subject_id = v.owner_subject_id FROM vehicles v WHERE v.iccid = s.iccid;
ALTER TABLE sims ADD CONSTRAINT sims_owner_fk FOREIGN KEY (owner_subject_id) REFERENCES realname_subjects (id);
ALTER TABLE vehicles DROP COLUMN owner_subject_id;
DROP TABLE vehicle_iccid_history;
