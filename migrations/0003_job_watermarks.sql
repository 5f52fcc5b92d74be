-- Up Migration

-- How far each periodic job has looked (so a restart neither skips nor re-does a whole period).
CREATE TABLE job_watermarks (
  job        text        PRIMARY KEY,
  watermark  timestamptz NOT NULL
);

-- Down Migration
DROP TABLE job_watermarks;
