/**
 * The operations schema, versioned, one list per engine. A migration is applied once, in
 * order, inside a transaction, by exactly one process at a time (see the two database
 * classes: SQLite's write lock, PostgreSQL's advisory lock). Released migrations are never
 * edited: a change is a new entry.
 *
 * Timestamps are ISO-8601 text in SQLite (they sort as text) and timestamptz in PostgreSQL;
 * lease expiries are epoch milliseconds in both. JSON values are text in both.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** SQLite: `PRAGMA user_version` records how many were applied (version 1 predates this list's runner). */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'operations and their events',
    sql: `CREATE TABLE operations (
       id              TEXT PRIMARY KEY,
       kind            TEXT NOT NULL,
       state           TEXT NOT NULL,
       created_at      TEXT NOT NULL,
       started_at      TEXT,
       finished_at     TEXT,
       request         TEXT NOT NULL,
       progress        TEXT NOT NULL,
       result          TEXT,
       error           TEXT,
       idempotency_key TEXT UNIQUE,
       request_hash    TEXT NOT NULL,
       had_secrets     INTEGER NOT NULL DEFAULT 0
     ) STRICT;
     CREATE INDEX operations_state_id ON operations (state, id);
     CREATE INDEX operations_kind_id ON operations (kind, id);
     CREATE INDEX operations_finished_at ON operations (finished_at) WHERE finished_at IS NOT NULL;
     CREATE TABLE operation_events (
       operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
       seq          INTEGER NOT NULL,
       type         TEXT NOT NULL,
       data         TEXT NOT NULL,
       at           TEXT NOT NULL,
       PRIMARY KEY (operation_id, seq)
     ) STRICT, WITHOUT ROWID;`,
  },
  {
    version: 2,
    name: 'owners, labels, leases, attempts, encrypted secrets; idempotency keys per principal',
    // Rebuilt (SQLite cannot drop the old inline UNIQUE): new tables, copy, drop, rename.
    // The event log loses its foreign key: the store deletes events with their operation.
    sql: `CREATE TABLE operations_v2 (
       id              TEXT PRIMARY KEY,
       kind            TEXT NOT NULL,
       state           TEXT NOT NULL,
       principal       TEXT NOT NULL,
       created_at      TEXT NOT NULL,
       started_at      TEXT,
       finished_at     TEXT,
       request         TEXT NOT NULL,
       progress        TEXT NOT NULL,
       result          TEXT,
       error           TEXT,
       labels          TEXT NOT NULL DEFAULT '{}',
       idempotency_key TEXT,
       request_hash    TEXT NOT NULL,
       had_secrets     INTEGER NOT NULL DEFAULT 0,
       secrets         TEXT,
       cancellation    TEXT,
       replica_id      TEXT,
       lease_owner     TEXT,
       lease_version   INTEGER NOT NULL DEFAULT 0,
       lease_expires_at INTEGER,
       attempts        INTEGER NOT NULL DEFAULT 0,
       last_error      TEXT,
       deadline_at     TEXT,
       last_seq        INTEGER NOT NULL DEFAULT 0
     ) STRICT;
     INSERT INTO operations_v2 (id, kind, state, principal, created_at, started_at, finished_at, request, progress, result, error,
                                idempotency_key, request_hash, had_secrets, last_seq)
       SELECT o.id, o.kind, o.state, 'local', o.created_at, o.started_at, o.finished_at, o.request, o.progress, o.result, o.error,
              o.idempotency_key, o.request_hash, o.had_secrets,
              (SELECT COALESCE(MAX(e.seq), 0) FROM operation_events e WHERE e.operation_id = o.id)
       FROM operations o;
     CREATE TABLE operation_events_v2 (
       operation_id TEXT NOT NULL,
       seq          INTEGER NOT NULL,
       type         TEXT NOT NULL,
       data         TEXT NOT NULL,
       at           TEXT NOT NULL,
       PRIMARY KEY (operation_id, seq)
     ) STRICT, WITHOUT ROWID;
     INSERT INTO operation_events_v2 SELECT operation_id, seq, type, data, at FROM operation_events;
     DROP TABLE operation_events;
     DROP TABLE operations;
     ALTER TABLE operations_v2 RENAME TO operations;
     ALTER TABLE operation_events_v2 RENAME TO operation_events;
     CREATE INDEX operations_state_id ON operations (state, id);
     CREATE INDEX operations_kind_id ON operations (kind, id);
     CREATE INDEX operations_principal_id ON operations (principal, id);
     CREATE INDEX operations_finished_at ON operations (finished_at) WHERE finished_at IS NOT NULL;
     CREATE INDEX operations_lease_owner ON operations (lease_owner) WHERE lease_owner IS NOT NULL;
     CREATE UNIQUE INDEX operations_idempotency ON operations (principal, idempotency_key) WHERE idempotency_key IS NOT NULL;
     CREATE TABLE operation_labels (
       operation_id TEXT NOT NULL,
       key          TEXT NOT NULL,
       value        TEXT NOT NULL,
       PRIMARY KEY (operation_id, key)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX operation_labels_key_value ON operation_labels (key, value, operation_id);
     CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;`,
  },
  {
    version: 3,
    name: "a sync's images: one row each, claimed image by image by any replica",
    sql: `CREATE TABLE sync_images (
       operation_id     TEXT NOT NULL,
       idx              INTEGER NOT NULL,
       source           TEXT NOT NULL,
       destination      TEXT NOT NULL,
       access_key       TEXT NOT NULL,
       state            TEXT NOT NULL,
       digest           TEXT,
       bytes            INTEGER,
       error            TEXT,
       source_digest    TEXT,
       referrers        INTEGER,
       bytes_total      INTEGER NOT NULL DEFAULT 0,
       bytes_skipped    INTEGER NOT NULL DEFAULT 0,
       blobs_total      INTEGER NOT NULL DEFAULT 0,
       blobs_done       INTEGER NOT NULL DEFAULT 0,
       blobs_skipped    INTEGER NOT NULL DEFAULT 0,
       blobs_mounted    INTEGER NOT NULL DEFAULT 0,
       pinned_to        TEXT,
       replica_id       TEXT,
       lease_owner      TEXT,
       lease_version    INTEGER NOT NULL DEFAULT 0,
       lease_expires_at INTEGER,
       PRIMARY KEY (operation_id, idx)
     ) STRICT, WITHOUT ROWID;
     CREATE INDEX sync_images_state ON sync_images (operation_id, state, idx);
     CREATE INDEX sync_images_open ON sync_images (state, operation_id, idx) WHERE state IN ('pending', 'running');
     CREATE TABLE blob_transfers (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL) STRICT;`,
  },
];

/** PostgreSQL: the table skiff_schema_migrations records each applied version. */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'operations, events, labels',
    sql: `CREATE TABLE operations (
       id              text PRIMARY KEY,
       kind            text NOT NULL,
       state           text NOT NULL,
       principal       text NOT NULL,
       created_at      timestamptz NOT NULL,
       started_at      timestamptz,
       finished_at     timestamptz,
       request         text NOT NULL,
       progress        text NOT NULL,
       result          text,
       error           text,
       labels          text NOT NULL DEFAULT '{}',
       idempotency_key text,
       request_hash    text NOT NULL,
       had_secrets     boolean NOT NULL DEFAULT false,
       secrets         text,
       cancellation    text,
       replica_id      text,
       lease_owner     text,
       lease_version   integer NOT NULL DEFAULT 0,
       lease_expires_at bigint,
       attempts        integer NOT NULL DEFAULT 0,
       last_error      text,
       deadline_at     timestamptz,
       last_seq        integer NOT NULL DEFAULT 0
     );
     CREATE INDEX operations_state_id ON operations (state, id);
     CREATE INDEX operations_kind_id ON operations (kind, id);
     CREATE INDEX operations_principal_id ON operations (principal, id);
     CREATE INDEX operations_finished_at ON operations (finished_at) WHERE finished_at IS NOT NULL;
     CREATE INDEX operations_lease_owner ON operations (lease_owner) WHERE lease_owner IS NOT NULL;
     CREATE UNIQUE INDEX operations_idempotency ON operations (principal, idempotency_key) WHERE idempotency_key IS NOT NULL;
     CREATE TABLE operation_events (
       operation_id text NOT NULL,
       seq          integer NOT NULL,
       type         text NOT NULL,
       data         text NOT NULL,
       at           timestamptz NOT NULL,
       PRIMARY KEY (operation_id, seq)
     );
     CREATE TABLE operation_labels (
       operation_id text NOT NULL,
       key          text NOT NULL,
       value        text NOT NULL,
       PRIMARY KEY (operation_id, key)
     );
     CREATE INDEX operation_labels_key_value ON operation_labels (key, value, operation_id);
     CREATE TABLE store_meta (key text PRIMARY KEY, value text NOT NULL);`,
  },
  {
    version: 2,
    name: "a sync's images: one row each, claimed image by image by any replica",
    sql: `CREATE TABLE sync_images (
       operation_id     text NOT NULL,
       idx              integer NOT NULL,
       source           text NOT NULL,
       destination      text NOT NULL,
       access_key       text NOT NULL,
       state            text NOT NULL,
       digest           text,
       bytes            bigint,
       error            text,
       source_digest    text,
       referrers        integer,
       bytes_total      bigint NOT NULL DEFAULT 0,
       bytes_skipped    bigint NOT NULL DEFAULT 0,
       blobs_total      integer NOT NULL DEFAULT 0,
       blobs_done       integer NOT NULL DEFAULT 0,
       blobs_skipped    integer NOT NULL DEFAULT 0,
       blobs_mounted    integer NOT NULL DEFAULT 0,
       pinned_to        text,
       replica_id       text,
       lease_owner      text,
       lease_version    integer NOT NULL DEFAULT 0,
       lease_expires_at bigint,
       PRIMARY KEY (operation_id, idx)
     );
     CREATE INDEX sync_images_state ON sync_images (operation_id, state, idx);
     CREATE INDEX sync_images_open ON sync_images (state, operation_id, idx) WHERE state IN ('pending', 'running');
     CREATE TABLE blob_transfers (key text PRIMARY KEY, owner text NOT NULL, expires_at bigint NOT NULL);`,
  },
  {
    version: 3,
    name: 'stored registry credentials, shared by the replicas, sealed with the secret key',
    // PostgreSQL only: the embedded store keeps its credentials in auth.json (credentials.module.ts).
    // `sealed` is SecretBox text bound to (registry, username, usable_by); the CHECK keeps
    // anything else (a secret in clear) out whatever the code does.
    sql: `CREATE TABLE stored_credentials (
       registry   text PRIMARY KEY,
       username   text NOT NULL,
       usable_by  text,
       sealed     text NOT NULL CHECK (sealed ~ '^v[0-9]+\\.[0-9a-f]{8}\\.'),
       updated_at timestamptz NOT NULL DEFAULT now()
     );`,
  },
  {
    version: 4,
    name: 'per-principal request counts, one row per principal and fixed window, shared by the replicas',
    // PostgreSQL only: the embedded store is one process, which counts in memory (rate-limit-storage.ts).
    // window_start and expires_at are epoch milliseconds of the server's clock; rows past
    // expires_at are dead and deleted a batch at a time by the replicas.
    sql: `CREATE TABLE rate_limit_hits (
       key          text NOT NULL,
       window_start bigint NOT NULL,
       hits         integer NOT NULL,
       expires_at   bigint NOT NULL,
       PRIMARY KEY (key, window_start)
     );
     CREATE INDEX rate_limit_hits_expires_at ON rate_limit_hits (expires_at);`,
  },
];
