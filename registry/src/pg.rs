//! The PostgreSQL backend: the same [`RegistryStore`] as [`crate::store::SqliteStore`], the
//! same [`Sequencer`] over [`PgLedger`], so several registry processes can share one database.
//!
//! Client: the synchronous `postgres` crate (no TLS; see `docs/adr/0005-postgresql-client.md`),
//! called from the blocking pool like the SQLite store. One write connection per process and a
//! few read connections. Every write transaction first takes a transaction-scoped advisory lock
//! (`pg_advisory_xact_lock`), so writers in every process are serialised by the database: two
//! processes never assign the same leaf index, sign diverging checkpoints or use one enrolment
//! token twice. Reads run in `REPEATABLE READ READ ONLY` transactions (one snapshot each) on
//! their own connections and never wait for that lock. A connection found closed is opened
//! again before its next use; while the server stays out of reach, attempts are spaced by a
//! bounded exponential back-off shared by the process's connections, and requests meanwhile
//! are answered `Unavailable` (503 `database_unavailable` with `Retry-After`) at once.
//!
//! Schema versions are numbered in table `birthright_schema`; records and salts are sealed by
//! the sequencer under the data key exactly as in SQLite (no plaintext names in PostgreSQL).

use std::{
    cell::RefCell,
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use birthright_core::{keys::KeyId, ledger::Hash, store::StorageKey, trust::Revocation};
use postgres::{Client, NoTls, Statement, Transaction};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use crate::{
    sequencer::{Ledger, LedgerBackend, LedgerTx, NewRecord, Sequencer, StoredPlacement},
    store::{
        CredentialRevocation, DECISION_COLUMNS, DecisionRow, DeviceRow, DuplicatePair,
        LeafStatuses, MatchRecordRow, MatchRows, PAIR_COLUMNS, REGISTRATION_COLUMNS, RecordMatch,
        RegistrationRow, RegistryStore, ReviewPolicy, StoreError, TokenProblem, TokenRow,
        WITNESS_COLUMNS, WitnessRow, decided_by_str, decision_row, duplicate_pair,
        registration_row, split_keys, witness_row,
    },
};

/// The advisory lock key of the write path ("birthrig" in ASCII).
const WRITE_LOCK: i64 = 0x6269_7274_6872_6967;

/// Read connections beside the writer's.
const READERS: usize = 4;

/// Rows per multi-row insert (one round trip each), bounding a statement's size.
const ROWS_PER_INSERT: usize = 5000;

/// The schema, by version: migration `i` brings the database from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: everything SQLite has at its version 5.
    "CREATE TABLE tokens (
        hash        BYTEA PRIMARY KEY,
        binding_key BYTEA,
        worker_id   TEXT NOT NULL,
        region      TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        expires_at  BIGINT NOT NULL,
        used_at     BIGINT,
        used_by     BYTEA
    );
    CREATE TABLE devices (
        seq           BIGSERIAL,
        kid           BYTEA PRIMARY KEY,
        public_key    BYTEA NOT NULL,
        worker_id     TEXT NOT NULL,
        region        TEXT NOT NULL,
        enrolled_at   BIGINT NOT NULL,
        not_before    BIGINT NOT NULL,
        not_after     BIGINT NOT NULL,
        revoked_at    BIGINT,
        revoke_reason TEXT,
        revoke_note   TEXT
    );
    CREATE TABLE records (
        device_kid    BYTEA NOT NULL,
        id            BYTEA NOT NULL,
        leaf_index    BIGINT NOT NULL UNIQUE,
        record_hash   BYTEA NOT NULL,
        sequenced_at  BIGINT NOT NULL,
        supersedes    BYTEA,
        sealed_record BYTEA NOT NULL,
        sealed_salt   BYTEA NOT NULL,
        PRIMARY KEY (device_kid, id)
    );
    CREATE INDEX records_by_id ON records(id);
    CREATE TABLE ledger_records (
        device_kid BYTEA NOT NULL,
        id         BYTEA NOT NULL,
        leaf_index BIGINT NOT NULL UNIQUE,
        supersedes BYTEA,
        PRIMARY KEY (device_kid, id)
    );
    CREATE INDEX ledger_records_by_id ON ledger_records(id);
    CREATE INDEX ledger_records_by_supersedes ON ledger_records(device_kid, supersedes)
        WHERE supersedes IS NOT NULL;
    CREATE TABLE batches (
        id          BYTEA PRIMARY KEY,
        received_at BIGINT NOT NULL,
        records     BIGINT NOT NULL
    );
    CREATE TABLE leaves (
        idx  BIGINT PRIMARY KEY,
        data BYTEA NOT NULL
    );
    CREATE TABLE nodes (
        level SMALLINT NOT NULL,
        idx   BIGINT NOT NULL,
        hash  BYTEA NOT NULL,
        PRIMARY KEY (level, idx)
    );
    CREATE TABLE checkpoints (
        size BIGINT PRIMARY KEY,
        note TEXT NOT NULL,
        root BYTEA NOT NULL
    );
    CREATE TABLE credential_revocations (
        leaf_index BIGINT PRIMARY KEY,
        revoked_at BIGINT NOT NULL,
        reason     TEXT NOT NULL,
        note       TEXT
    );
    CREATE FUNCTION birthright_rows_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '% rows are never deleted', TG_TABLE_NAME; END $$;
    CREATE TRIGGER ledger_records_are_kept BEFORE DELETE ON ledger_records
        FOR EACH ROW EXECUTE FUNCTION birthright_rows_are_kept();
    CREATE TRIGGER leaves_are_kept BEFORE DELETE ON leaves
        FOR EACH ROW EXECUTE FUNCTION birthright_rows_are_kept();
    CREATE TRIGGER credential_revocations_are_kept BEFORE DELETE ON credential_revocations
        FOR EACH ROW EXECUTE FUNCTION birthright_rows_are_kept();",
    // 2: witnesses (C2SP tlog-witness), the quorum, and the cosignatures collected per size
    // (SQLite's version 6).
    "CREATE TABLE witnesses (
        seq      BIGSERIAL UNIQUE,
        name     TEXT PRIMARY KEY,
        vkey     TEXT NOT NULL,
        url      TEXT NOT NULL,
        size     BIGINT,
        added_at BIGINT NOT NULL
    );
    CREATE TABLE witness_policy (
        id     SMALLINT PRIMARY KEY CHECK (id = 1),
        quorum BIGINT NOT NULL CHECK (quorum >= 0)
    );
    CREATE TABLE cosignatures (
        size    BIGINT NOT NULL,
        witness TEXT NOT NULL,
        line    TEXT NOT NULL,
        PRIMARY KEY (size, witness)
    );",
    // 3: duplicate detection (SQLite's version 7): keyed blocking hashes, candidate pairs.
    "CREATE TABLE match_keys (
        key        BYTEA NOT NULL,
        device_kid BYTEA NOT NULL,
        id         BYTEA NOT NULL,
        PRIMARY KEY (key, device_kid, id)
    );
    CREATE INDEX match_keys_by_record ON match_keys(device_kid, id);
    CREATE TABLE duplicate_pairs (
        record_kid    BYTEA NOT NULL,
        record_id     BYTEA NOT NULL,
        candidate_kid BYTEA NOT NULL,
        candidate_id  BYTEA NOT NULL,
        score         INTEGER NOT NULL,
        level         TEXT NOT NULL,
        opened_at     BIGINT NOT NULL,
        closed_at     BIGINT,
        decision      TEXT,
        PRIMARY KEY (record_kid, record_id, candidate_kid, candidate_id)
    );
    CREATE INDEX duplicate_pairs_open ON duplicate_pairs(record_id) WHERE closed_at IS NULL;",
    // 4: the life of a registration (SQLite's version 8): statuses, decisions beside their
    // leaves, the review policy.
    "CREATE TABLE registrations (
        device_kid    BYTEA NOT NULL,
        id            BYTEA NOT NULL,
        status        TEXT NOT NULL,
        reasons       TEXT NOT NULL,
        updated_at    BIGINT NOT NULL,
        decision_leaf BIGINT,
        PRIMARY KEY (device_kid, id)
    );
    CREATE INDEX registrations_by_status ON registrations(status, updated_at);
    CREATE TABLE decisions (
        leaf_index   BIGINT PRIMARY KEY,
        device_kid   BYTEA NOT NULL,
        id           BYTEA NOT NULL,
        record_index BIGINT NOT NULL,
        decision     TEXT NOT NULL,
        reason       TEXT NOT NULL,
        decided_by   TEXT NOT NULL,
        actor        TEXT,
        sealed_note  BYTEA,
        duplicate_of BYTEA,
        decided_at   BIGINT NOT NULL
    );
    CREATE INDEX decisions_by_record ON decisions(device_kid, id);
    CREATE TRIGGER decisions_are_kept BEFORE DELETE ON decisions
        FOR EACH ROW EXECUTE FUNCTION birthright_rows_are_kept();
    CREATE TABLE review_policy (
        id                 SMALLINT PRIMARY KEY CHECK (id = 1),
        max_age_days       BIGINT NOT NULL,
        review_corrections BOOLEAN NOT NULL
    );",
    // 5: how far the back-fill of keyed blocking hashes has come (SQLite's version 9).
    "CREATE TABLE match_backfill (
        id        SMALLINT PRIMARY KEY CHECK (id = 1),
        next_leaf BIGINT NOT NULL
    );",
    // 6: each record's keyed hashes in one appended row, and the keys gain `q:` (SQLite's
    // version 10): the back-fill makes every record's hashes again.
    "DROP TABLE match_keys;
    CREATE TABLE match_records (
        seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device_kid BYTEA NOT NULL,
        id         BYTEA NOT NULL,
        keys       BYTEA NOT NULL,
        UNIQUE (device_kid, id)
    );
    DELETE FROM match_backfill;",
    // 7: each row of `match_records` also keeps the record's sealed facts for the bound
    // (SQLite's version 11): the back-fill makes every record's row again.
    "DROP TABLE match_records;
    CREATE TABLE match_records (
        seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device_kid   BYTEA NOT NULL,
        id           BYTEA NOT NULL,
        keys         BYTEA NOT NULL,
        sealed_facts BYTEA NOT NULL,
        UNIQUE (device_kid, id)
    );
    DELETE FROM match_backfill;",
    // 8: each matched record's candidate form, sealed (SQLite's version 12).
    "CREATE TABLE match_candidates (
        seq              BIGINT PRIMARY KEY,
        sealed_candidate BYTEA NOT NULL
    );",
    // 9: candidate forms of the earlier layout are dropped (SQLite's version 13).
    "DELETE FROM match_candidates;",
];

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        // The server's message (`as_db_error`) or the client's; never a query's parameters.
        // A lost connection (the client's errors, SQLSTATE class 08, a server shutting down)
        // is `Unavailable`: answered 503, and the connection is opened again next time.
        match e.as_db_error() {
            Some(db)
                if db.code().code().starts_with("08")
                    || ["57P01", "57P02", "57P03"].contains(&db.code().code()) =>
            {
                StoreError::Unavailable(format!("PostgreSQL: {}", db.message()))
            }
            Some(db) => StoreError::Backend(format!("PostgreSQL: {}", db.message())),
            None => StoreError::Unavailable(format!("PostgreSQL: {e}")),
        }
    }
}

/// The statements prepared on one connection, by their SQL.
type Statements = RefCell<HashMap<&'static str, Statement>>;

/// The first wait after a failed connection attempt; each further failure doubles it.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);

/// The longest wait between connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Bounded exponential back-off between connection attempts, shared by every connection of a
/// process: while the server is out of reach, requests are answered `Unavailable` at once
/// (503 `database_unavailable` with `Retry-After`) and at most one attempt is made per wait,
/// however many requests arrive, instead of a reconnect storm.
#[derive(Debug, Default)]
struct Backoff {
    /// Failed attempts in a row.
    failures: u32,
    /// No attempt before this.
    next_attempt: Option<Instant>,
}

impl Backoff {
    /// `Ok` if a connection may be attempted at `now`, else how long until one may.
    fn permit(&mut self, now: Instant) -> Result<(), Duration> {
        match self.next_attempt {
            Some(at) if now < at => Err(at - now),
            // The attempt is this caller's: the others wait for its outcome's window.
            Some(_) => {
                self.next_attempt = Some(now + self.wait());
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The wait after the current run of failures.
    fn wait(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        BACKOFF_FIRST
            .saturating_mul(1 << doublings)
            .min(BACKOFF_MAX)
    }

    fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.next_attempt = Some(now + self.wait());
    }

    fn succeeded(&mut self) {
        *self = Backoff::default();
    }
}

/// A connection that is opened again when it was found closed.
struct Conn {
    url: String,
    client: Option<Client>,
    /// Statements prepared on `client` (dropped with it).
    statements: Statements,
    /// The process's back-off between connection attempts.
    backoff: Arc<Mutex<Backoff>>,
}

impl Conn {
    fn new(url: &str, backoff: Arc<Mutex<Backoff>>) -> Conn {
        Conn {
            url: url.to_string(),
            client: None,
            statements: RefCell::new(HashMap::new()),
            backoff,
        }
    }

    /// Connects, unless the back-off says to wait.
    fn reconnect(&mut self) -> Result<Client, StoreError> {
        // The back-off is plain data: a panic elsewhere cannot leave it inconsistent.
        let backoff = || self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let permitted = backoff().permit(Instant::now());
        if let Err(wait) = permitted {
            return Err(StoreError::Unavailable(format!(
                "PostgreSQL at {} is out of reach; next connection attempt in {} ms",
                redact_url(&self.url),
                wait.as_millis()
            )));
        }
        let connected = connect(&self.url);
        match &connected {
            Ok(_) => backoff().succeeded(),
            Err(_) => backoff().failed(Instant::now()),
        }
        connected
    }

    /// The client and its prepared statements, connecting first if there is no open
    /// connection.
    fn parts(&mut self) -> Result<(&mut Client, &Statements), StoreError> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.client = None;
            self.statements.borrow_mut().clear();
            self.client = Some(self.reconnect()?);
        }
        match self.client.as_mut() {
            Some(client) => Ok((client, &self.statements)),
            None => Err(StoreError::Backend("PostgreSQL: no connection".into())),
        }
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        Ok(self.parts()?.0)
    }
}

fn connect(url: &str) -> Result<Client, StoreError> {
    Client::connect(url, NoTls).map_err(|e| {
        // The client's message is generic ("error connecting to server"); the cause (refused,
        // unknown host, authentication) is its source.
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        StoreError::Unavailable(format!(
            "cannot connect to PostgreSQL at {}: {e}{cause}",
            redact_url(url)
        ))
    })
}

/// `url` without a password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// The PostgreSQL backend of the sequencer.
pub struct PgLedger {
    writer: Mutex<Conn>,
    readers: Vec<Mutex<Conn>>,
    next_reader: AtomicUsize,
}

/// Stores a candidate form by its row number, replacing one stored before.
const UPSERT_CANDIDATE: &str = "INSERT INTO match_candidates(seq, sealed_candidate) VALUES ($1, $2)
     ON CONFLICT (seq) DO UPDATE SET sealed_candidate = excluded.sealed_candidate";

/// A [`LedgerTx`] over a PostgreSQL transaction.
/// Stores the keyed blocking hashes, sealed facts and open pairs of `matches` (a row or pair
/// already stored is kept as it is) and, with `backfill_next`, moves the back-fill on to that
/// leaf index (never back), inside the caller's transaction.
fn insert_matches(
    tx: &mut Transaction<'_>,
    matches: &[RecordMatch],
    backfill_next: Option<u64>,
    seen: Option<i64>,
) -> Result<MatchRows, StoreError> {
    let mut given = Vec::with_capacity(matches.len());
    if matches.is_empty() && backfill_next.is_none() {
        return Ok(given);
    }
    // Rows become visible in `seq` order (the index in memory reads on from the last
    // one it saw), so writers take turns.
    tx.batch_execute("LOCK TABLE match_records IN SHARE ROW EXCLUSIVE MODE")?;
    if let Some(seen) = seen {
        let last: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(seq), 0)::BIGINT FROM match_records",
                &[],
            )?
            .get(0);
        if last > seen {
            return Err(StoreError::MatchedBehind);
        }
    }
    let insert = tx.prepare(
        "INSERT INTO match_records(device_kid, id, keys, sealed_facts)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING seq",
    )?;
    let candidate = tx.prepare(UPSERT_CANDIDATE)?;
    let pair = tx.prepare(
        "INSERT INTO duplicate_pairs(record_kid, record_id, candidate_kid, candidate_id,
         score, level, opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT DO NOTHING",
    )?;
    for m in matches {
        let inserted = tx.query_opt(
            &insert,
            &[
                &m.kid.0.as_slice(),
                &m.id.as_bytes().as_slice(),
                &m.keys.concat(),
                &m.sealed_facts,
            ],
        )?;
        if let Some(row) = inserted {
            let seq: i64 = row.get(0);
            tx.execute(&candidate, &[&seq, &m.sealed_candidate])?;
            given.push(Some(seq));
        } else {
            given.push(None);
        }
        for p in &m.pairs {
            tx.execute(
                &pair,
                &[
                    &p.record_kid.0.as_slice(),
                    &p.record_id.as_bytes().as_slice(),
                    &p.candidate_kid.0.as_slice(),
                    &p.candidate_id.as_bytes().as_slice(),
                    &p.score,
                    &p.level,
                    &p.opened_at,
                ],
            )?;
        }
    }
    if let Some(next) = backfill_next {
        let next = i64::try_from(next).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO match_backfill(id, next_leaf) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE
             SET next_leaf = GREATEST(match_backfill.next_leaf, excluded.next_leaf)",
            &[&next],
        )?;
    }
    Ok(given)
}

struct PgTx<'a, 'c> {
    tx: &'a RefCell<Transaction<'c>>,
    /// The connection's prepared statements.
    cache: &'a Statements,
}

fn key_id(bytes: &[u8]) -> Result<KeyId, StoreError> {
    KeyId::from_slice(bytes).ok_or_else(|| StoreError::Damaged("a device key id".into()))
}

fn hash32(bytes: Vec<u8>, what: &str) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Damaged(format!("{what} is not 32 bytes")))
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl<'c> PgTx<'_, 'c> {
    /// Runs `f` with the prepared statement of `sql`, prepared once per connection (a string
    /// query would cost a second round trip every time).
    fn with<R>(
        &self,
        sql: &'static str,
        f: impl FnOnce(&mut Transaction<'c>, &Statement) -> Result<R, postgres::Error>,
    ) -> Result<R, StoreError> {
        let cached = self.cache.borrow().get(sql).cloned();
        let statement = match cached {
            Some(statement) => statement,
            None => {
                let statement = self.tx.borrow_mut().prepare(sql)?;
                self.cache.borrow_mut().insert(sql, statement.clone());
                statement
            }
        };
        Ok(f(&mut self.tx.borrow_mut(), &statement)?)
    }
}

impl LedgerTx for PgTx<'_, '_> {
    fn size(&self) -> Result<u64, StoreError> {
        let size: i64 = self.with(SIZE, |tx, s| tx.query_one(s, &[]))?.get(0);
        Ok(u64::try_from(size).unwrap_or(0))
    }

    fn node(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        let row = self
            .with(
                "SELECT hash FROM nodes WHERE level = $1 AND idx = $2",
                |tx, s| tx.query_opt(s, &[&i16::from(level), &int(index)]),
            )?
            .ok_or_else(|| StoreError::Backend(format!("node ({level}, {index}) is missing")))?;
        hash32(row.get(0), &format!("node ({level}, {index})"))
    }

    fn nodes_at(&self, at: &[(u8, u64)]) -> Result<Vec<Hash>, StoreError> {
        let levels: Vec<i16> = at.iter().map(|a| i16::from(a.0)).collect();
        let indices: Vec<i64> = at.iter().map(|a| int(a.1)).collect();
        let rows = self.with(
            "SELECT n.level, n.idx, n.hash FROM nodes n
             JOIN unnest($1::smallint[], $2::bigint[]) AS want(level, idx)
               ON n.level = want.level AND n.idx = want.idx",
            |tx, s| tx.query(s, &[&levels, &indices]),
        )?;
        let mut found = HashMap::with_capacity(rows.len());
        for r in rows {
            let (level, index): (i16, i64) = (r.get(0), r.get(1));
            found.insert((level, index), r.get::<_, Vec<u8>>(2));
        }
        at.iter()
            .map(|&(level, index)| {
                let hash = found
                    .get(&(i16::from(level), int(index)))
                    .cloned()
                    .ok_or_else(|| {
                        StoreError::Backend(format!("node ({level}, {index}) is missing"))
                    })?;
                hash32(hash, &format!("node ({level}, {index})"))
            })
            .collect()
    }

    fn nodes(&self, level: u8, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        let rows = self.with(
            "SELECT hash FROM nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
            |tx, s| tx.query(s, &[&i16::from(level), &int(start), &int(end)]),
        )?;
        if rows.len() as u64 != end.saturating_sub(start) {
            return Err(StoreError::Damaged(format!(
                "nodes ({level}, {start}..{end}): {} stored",
                rows.len()
            )));
        }
        rows.iter()
            .map(|r| hash32(r.get(0), &format!("a node at level {level}")))
            .collect()
    }

    fn leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self
            .with(
                "SELECT data FROM leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                |tx, s| tx.query(s, &[&int(start), &int(end)]),
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn placement(&self, kid: &KeyId, id: &Uuid) -> Result<Option<StoredPlacement>, StoreError> {
        let row = self.with(
            "SELECT leaf_index, sequenced_at, sealed_salt, record_hash FROM records
             WHERE device_kid = $1 AND id = $2",
            |tx, s| tx.query_opt(s, &[&kid.0.as_slice(), &id.as_bytes().as_slice()]),
        )?;
        row.map(|r| {
            Ok(StoredPlacement {
                index: r.get::<_, i64>(0) as u64,
                sequenced_at: r.get(1),
                sealed_salt: r.get(2),
                record_hash: hash32(r.get(3), "a record hash")?,
            })
        })
        .transpose()
    }

    fn sealed_record(&self, kid: &KeyId, id: &Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .with(
                "SELECT sealed_record FROM records WHERE device_kid = $1 AND id = $2",
                |tx, s| tx.query_opt(s, &[&kid.0.as_slice(), &id.as_bytes().as_slice()]),
            )?
            .map(|r| r.get(0)))
    }

    fn on_ledger(&self, kid: &KeyId, id: &Uuid) -> Result<bool, StoreError> {
        Ok(self
            .with(
                "SELECT EXISTS(SELECT 1 FROM ledger_records WHERE device_kid = $1 AND id = $2)",
                |tx, s| tx.query_one(s, &[&kid.0.as_slice(), &id.as_bytes().as_slice()]),
            )?
            .get(0))
    }

    fn corrected(&self, kid: &KeyId, original: &Uuid) -> Result<bool, StoreError> {
        Ok(self
            .with(
                "SELECT EXISTS(SELECT 1 FROM ledger_records WHERE device_kid = $1 AND supersedes = $2)",
                |tx, s| tx.query_one(s, &[&kid.0.as_slice(), &original.as_bytes().as_slice()]),
            )?
            .get(0))
    }

    fn owners(&self, id: &Uuid) -> Result<Vec<KeyId>, StoreError> {
        self.with(OWNERS, |tx, s| tx.query(s, &[&id.as_bytes().as_slice()]))?
            .iter()
            .map(|r| key_id(r.get(0)))
            .collect()
    }

    fn insert_nodes(&self, nodes: &[(u8, u64, Hash)]) -> Result<(), StoreError> {
        for chunk in nodes.chunks(ROWS_PER_INSERT) {
            let levels: Vec<i16> = chunk.iter().map(|n| i16::from(n.0)).collect();
            let indices: Vec<i64> = chunk.iter().map(|n| int(n.1)).collect();
            let hashes: Vec<&[u8]> = chunk.iter().map(|n| n.2.as_slice()).collect();
            self.with(
                "INSERT INTO nodes(level, idx, hash)
                 SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
                |tx, s| tx.execute(s, &[&levels, &indices, &hashes]),
            )?;
        }
        Ok(())
    }

    fn insert_leaves(&self, leaves: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        for chunk in leaves.chunks(ROWS_PER_INSERT) {
            let indices: Vec<i64> = chunk.iter().map(|l| int(l.0)).collect();
            let data: Vec<&[u8]> = chunk.iter().map(|l| l.1.as_slice()).collect();
            self.with(
                "INSERT INTO leaves(idx, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
                |tx, s| tx.execute(s, &[&indices, &data]),
            )?;
        }
        Ok(())
    }

    fn insert_records(&self, records: &[NewRecord]) -> Result<(), StoreError> {
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let kids: Vec<&[u8]> = chunk.iter().map(|r| r.kid.0.as_slice()).collect();
            let ids: Vec<&[u8]> = chunk.iter().map(|r| r.id.as_bytes().as_slice()).collect();
            let indices: Vec<i64> = chunk.iter().map(|r| int(r.index)).collect();
            let hashes: Vec<&[u8]> = chunk.iter().map(|r| r.record_hash.as_slice()).collect();
            let times: Vec<i64> = chunk.iter().map(|r| r.sequenced_at).collect();
            let supersedes: Vec<Option<&[u8]>> = chunk
                .iter()
                .map(|r| r.supersedes.as_ref().map(|s| s.as_bytes().as_slice()))
                .collect();
            let sealed: Vec<&[u8]> = chunk.iter().map(|r| r.sealed_record.as_slice()).collect();
            let salts: Vec<&[u8]> = chunk.iter().map(|r| r.sealed_salt.as_slice()).collect();
            self.with(
                "INSERT INTO records(device_kid, id, leaf_index, record_hash, sequenced_at, supersedes, sealed_record, sealed_salt)
                 SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bytea[], $5::bigint[], $6::bytea[], $7::bytea[], $8::bytea[])",
                |tx, s| {
                    tx.execute(
                        s,
                        &[&kids, &ids, &indices, &hashes, &times, &supersedes, &sealed, &salts],
                    )
                },
            )?;
            self.with(
                "INSERT INTO ledger_records(device_kid, id, leaf_index, supersedes)
                 SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bytea[])",
                |tx, s| tx.execute(s, &[&kids, &ids, &indices, &supersedes]),
            )?;
            self.with(
                "INSERT INTO registrations(device_kid, id, status, reasons, updated_at)
                 SELECT k, i, 'declared', '', t FROM unnest($1::bytea[], $2::bytea[], $3::bigint[]) AS u(k, i, t)",
                |tx, s| tx.execute(s, &[&kids, &ids, &times]),
            )?;
        }
        Ok(())
    }

    fn registration_status(&self, kid: &KeyId, id: &Uuid) -> Result<Option<String>, StoreError> {
        Ok(self
            .with(
                "SELECT status FROM registrations WHERE device_kid = $1 AND id = $2",
                |tx, s| tx.query_opt(s, &[&kid.0.as_slice(), &id.as_bytes().as_slice()]),
            )?
            .map(|r| r.get(0)))
    }

    fn insert_matches(
        &self,
        matches: &[RecordMatch],
        seen: Option<i64>,
    ) -> Result<MatchRows, StoreError> {
        insert_matches(&mut self.tx.borrow_mut(), matches, None, seen)
    }

    fn insert_decisions(&self, decisions: &[DecisionRow]) -> Result<(), StoreError> {
        for d in decisions {
            let duplicate_of = d.duplicate_of.map(|u| u.as_bytes().to_vec());
            self.with(
                "INSERT INTO decisions(leaf_index, device_kid, id, record_index, decision, reason,
                 decided_by, actor, sealed_note, duplicate_of, decided_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                |tx, s| {
                    tx.execute(
                        s,
                        &[
                            &int(d.leaf_index),
                            &d.kid.0.as_slice(),
                            &d.id.as_bytes().as_slice(),
                            &int(d.record_index),
                            &d.decision.as_str(),
                            &d.reason.as_str(),
                            &decided_by_str(d.decided_by),
                            &d.actor,
                            &d.sealed_note,
                            &duplicate_of,
                            &d.decided_at,
                        ],
                    )
                },
            )?;
            self.with(
                "UPDATE registrations SET status = $3, updated_at = $4, decision_leaf = $5
                 WHERE device_kid = $1 AND id = $2",
                |tx, s| {
                    tx.execute(
                        s,
                        &[
                            &d.kid.0.as_slice(),
                            &d.id.as_bytes().as_slice(),
                            &d.decision.as_str(),
                            &d.decided_at,
                            &int(d.leaf_index),
                        ],
                    )
                },
            )?;
        }
        Ok(())
    }

    fn insert_batch(
        &self,
        batch_id: &Uuid,
        received_at: i64,
        records: u64,
    ) -> Result<(), StoreError> {
        self.with(
            "INSERT INTO batches(id, received_at, records) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO NOTHING",
            |tx, s| {
                tx.execute(
                    s,
                    &[&batch_id.as_bytes().as_slice(), &received_at, &int(records)],
                )
            },
        )?;
        Ok(())
    }

    fn checkpoint(&self, size: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .with("SELECT note FROM checkpoints WHERE size = $1", |tx, s| {
                tx.query_opt(s, &[&int(size)])
            })?
            .map(|r| r.get(0)))
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, Hash)>, StoreError> {
        self.with(
            "SELECT size, root FROM checkpoints ORDER BY size DESC LIMIT 1",
            |tx, s| tx.query_opt(s, &[]),
        )?
        .map(|r| {
            Ok((
                r.get::<_, i64>(0) as u64,
                hash32(r.get(1), "a checkpoint root")?,
            ))
        })
        .transpose()
    }

    fn insert_checkpoint(&self, size: u64, root: &Hash, note: &str) -> Result<(), StoreError> {
        self.with(
            "INSERT INTO checkpoints(size, note, root) VALUES ($1, $2, $3)",
            |tx, s| tx.execute(s, &[&int(size), &note, &root.as_slice()]),
        )?;
        Ok(())
    }
}

const SIZE: &str = "SELECT COALESCE(MAX(idx) + 1, 0) FROM leaves";
const OWNERS: &str = "SELECT device_kid FROM ledger_records WHERE id = $1 ORDER BY leaf_index";

fn size_in(tx: &mut Transaction<'_>) -> Result<u64, StoreError> {
    let size: i64 = tx.query_one(SIZE, &[])?.get(0);
    Ok(u64::try_from(size).unwrap_or(0))
}

impl LedgerBackend for PgLedger {
    fn write<T>(
        &self,
        f: impl FnOnce(&dyn LedgerTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let (client, cache) = conn.parts()?;
        let cell = RefCell::new(begin_write(client)?);
        let value = f(&PgTx { tx: &cell, cache })?;
        cell.into_inner().commit()?;
        Ok(value)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&dyn LedgerTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.read_conn();
        let (client, cache) = conn.parts()?;
        let cell = RefCell::new(begin_read(client)?);
        f(&PgTx { tx: &cell, cache })
    }
}

/// A write transaction holding the database-wide write lock (until it commits or rolls back).
fn begin_write(client: &mut Client) -> Result<Transaction<'_>, StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
    Ok(tx)
}

/// A read-only transaction on one snapshot.
fn begin_read(client: &mut Client) -> Result<Transaction<'_>, StoreError> {
    Ok(client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?)
}

impl PgLedger {
    /// Connects to the database at `url` and migrates it (under the write lock, so two
    /// processes starting at once migrate it once).
    pub fn open(url: &str) -> Result<PgLedger, StoreError> {
        let backoff = Arc::new(Mutex::new(Backoff::default()));
        let mut writer = Conn::new(url, backoff.clone());
        {
            let mut tx = begin_write(writer.client()?)?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS birthright_schema (version INTEGER NOT NULL)",
            )?;
            let version: Option<i32> = tx
                .query_opt("SELECT version FROM birthright_schema", &[])?
                .map(|r| r.get(0));
            if version.is_none() {
                tx.execute("INSERT INTO birthright_schema(version) VALUES (0)", &[])?;
            }
            let version = i64::from(version.unwrap_or(0));
            if version > MIGRATIONS.len() as i64 {
                return Err(StoreError::SchemaTooNew(version));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
                tx.batch_execute(sql)?;
                tx.execute(
                    "UPDATE birthright_schema SET version = $1",
                    &[&(i as i32 + 1)],
                )?;
            }
            tx.commit()?;
        }
        let readers = (0..READERS)
            .map(|_| Mutex::new(Conn::new(url, backoff.clone())))
            .collect();
        Ok(PgLedger {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Conn> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_conn(&self) -> MutexGuard<'_, Conn> {
        for reader in &self.readers {
            match reader.try_lock() {
                Ok(guard) => return guard,
                Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One write transaction (under the write lock) for the non-ledger tables.
    fn write_sql<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let mut tx = begin_write(conn.client()?)?;
        let value = f(&mut tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// One read-only transaction.
    fn read_sql<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.read_conn();
        let mut tx = begin_read(conn.client()?)?;
        f(&mut tx)
    }
}

/// The registry's store on PostgreSQL.
pub struct PgStore {
    ledger: Sequencer<PgLedger>,
}

impl PgStore {
    /// Connects to (and migrates) the database at `url`; records are sealed under `data_key`.
    pub fn open(url: &str, data_key: StorageKey) -> Result<PgStore, StoreError> {
        Ok(PgStore {
            ledger: Sequencer::new(PgLedger::open(url)?, data_key),
        })
    }

    /// Keeps the ledger head in `path` (outside the database).
    pub fn with_head_file(self, path: &std::path::Path) -> Result<PgStore, StoreError> {
        Ok(PgStore {
            ledger: self.ledger.with_head(crate::head::HeadFile::open(path)?),
        })
    }

    fn db(&self) -> &PgLedger {
        self.ledger.backend()
    }

    /// Appends pre-built leaves (each the 49-byte leaf of `docs/PROTOCOL.md` §10) in one
    /// transaction and returns the new size: for mirrors and benchmarks (as
    /// [`crate::store::SqliteStore::append_leaves`]).
    pub fn append_leaves(&self, leaves: &[Vec<u8>]) -> Result<u64, StoreError> {
        self.ledger.append_leaves(leaves)
    }
}

const DEVICE_COLUMNS: &str = "kid, public_key, worker_id, region, enrolled_at, not_before, not_after, revoked_at, revoke_reason, revoke_note";

fn device_row(r: &postgres::Row) -> Result<DeviceRow, StoreError> {
    let public: Vec<u8> = r.get(1);
    Ok(DeviceRow {
        kid: key_id(r.get(0))?,
        public_key: public
            .try_into()
            .map_err(|_| StoreError::Damaged("a device public key".into()))?,
        worker_id: r.get(2),
        region: r.get(3),
        enrolled_at: r.get(4),
        not_before: r.get(5),
        not_after: r.get(6),
        revoked_at: r.get(7),
        revoke_reason: r.get(8),
        revoke_note: r.get(9),
    })
}

impl RegistryStore for PgStore {
    fn insert_token(
        &self,
        token_id: &[u8; 32],
        binding_key: &[u8; 32],
        worker_id: &str,
        region: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.db().write_sql(|tx| {
            tx.execute(
                "INSERT INTO tokens(hash, binding_key, worker_id, region, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &token_id.as_slice(),
                    &binding_key.as_slice(),
                    &worker_id,
                    &region,
                    &created_at,
                    &expires_at,
                ],
            )?;
            Ok(())
        })
    }

    fn unused_tokens(&self, now: i64) -> Result<Vec<TokenRow>, StoreError> {
        self.db().read_sql(|tx| {
            tx.query(
                "SELECT hash, worker_id, region, created_at, expires_at FROM tokens
                 WHERE used_at IS NULL AND binding_key IS NOT NULL AND expires_at > $1
                 ORDER BY created_at, hash",
                &[&now],
            )?
            .iter()
            .map(|r| {
                Ok(TokenRow {
                    id: hash32(r.get(0), "a token id")?,
                    worker_id: r.get(1),
                    region: r.get(2),
                    created_at: r.get(3),
                    expires_at: r.get(4),
                })
            })
            .collect()
        })
    }

    fn cancel_token(&self, token_id: &[u8; 32]) -> Result<bool, StoreError> {
        self.db().write_sql(|tx| {
            let deleted = tx.execute(
                "DELETE FROM tokens WHERE hash = $1 AND used_at IS NULL",
                &[&token_id.as_slice()],
            )?;
            Ok(deleted == 1)
        })
    }

    fn enrol(
        &self,
        token_id: &[u8; 32],
        now: i64,
        binding_ok: &mut dyn FnMut(&[u8; 32]) -> bool,
        make_device: &mut dyn FnMut(&str, &str) -> DeviceRow,
    ) -> Result<Result<DeviceRow, TokenProblem>, StoreError> {
        // Under the database-wide write lock: a token is used once across every process.
        self.db().write_sql(|tx| {
            let Some(token) = tx.query_opt(
                "SELECT worker_id, region, expires_at, used_at, used_by, binding_key
                 FROM tokens WHERE hash = $1",
                &[&token_id.as_slice()],
            )?
            else {
                return Ok(Err(TokenProblem::Unknown));
            };
            let (worker, region): (String, String) = (token.get(0), token.get(1));
            let expires_at: i64 = token.get(2);
            let used_at: Option<i64> = token.get(3);
            let used_by: Option<Vec<u8>> = token.get(4);
            let binding_key: Option<Vec<u8>> = token.get(5);
            let Some(binding_key) = binding_key.and_then(|k| <[u8; 32]>::try_from(k).ok()) else {
                return Ok(Err(TokenProblem::Unknown));
            };
            if !binding_ok(&binding_key) {
                return Ok(Err(TokenProblem::BadBinding));
            }
            let device = make_device(&worker, &region);
            if used_at.is_some() {
                if used_by.as_deref() == Some(device.kid.0.as_slice())
                    && let Some(existing) = tx.query_opt(
                        &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE kid = $1"),
                        &[&device.kid.0.as_slice()],
                    )?
                {
                    return Ok(Ok(device_row(&existing)?));
                }
                return Ok(Err(TokenProblem::Used));
            }
            if now > expires_at {
                return Ok(Err(TokenProblem::Expired));
            }
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM devices WHERE kid = $1)",
                    &[&device.kid.0.as_slice()],
                )?
                .get(0);
            if exists {
                return Ok(Err(TokenProblem::DeviceExists));
            }
            tx.execute(
                "UPDATE tokens SET used_at = $2, used_by = $3 WHERE hash = $1",
                &[&token_id.as_slice(), &now, &device.kid.0.as_slice()],
            )?;
            tx.execute(
                "INSERT INTO devices(kid, public_key, worker_id, region, enrolled_at, not_before, not_after)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &device.kid.0.as_slice(),
                    &device.public_key.as_slice(),
                    &device.worker_id,
                    &device.region,
                    &device.enrolled_at,
                    &device.not_before,
                    &device.not_after,
                ],
            )?;
            Ok(Ok(device))
        })
    }

    fn device(&self, kid: &KeyId) -> Result<Option<DeviceRow>, StoreError> {
        self.db().read_sql(|tx| {
            tx.query_opt(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE kid = $1"),
                &[&kid.0.as_slice()],
            )?
            .map(|r| device_row(&r))
            .transpose()
        })
    }

    fn devices(&self) -> Result<Vec<DeviceRow>, StoreError> {
        self.db().read_sql(|tx| {
            tx.query(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY enrolled_at, seq"),
                &[],
            )?
            .iter()
            .map(device_row)
            .collect()
        })
    }

    fn revoke(
        &self,
        kid: &KeyId,
        at: i64,
        reason: &str,
        note: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.db().write_sql(|tx| {
            let changed = tx.execute(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, $2),
                 revoke_reason = COALESCE(revoke_reason, $3), revoke_note = COALESCE(revoke_note, $4)
                 WHERE kid = $1",
                &[&kid.0.as_slice(), &at, &reason, &note],
            )?;
            Ok(changed == 1)
        })
    }

    fn revoke_credential(
        &self,
        leaf_index: u64,
        at: i64,
        reason: &str,
        note: Option<&str>,
    ) -> Result<CredentialRevocation, StoreError> {
        let Ok(index) = i64::try_from(leaf_index) else {
            return Ok(CredentialRevocation::NoSuchLeaf);
        };
        self.db().write_sql(|tx| {
            let registered: bool = tx
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM ledger_records WHERE leaf_index = $1)",
                    &[&index],
                )?
                .get(0);
            if !registered {
                return Ok(CredentialRevocation::NoSuchLeaf);
            }
            let inserted = tx.execute(
                "INSERT INTO credential_revocations(leaf_index, revoked_at, reason, note)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (leaf_index) DO NOTHING",
                &[&index, &at, &reason, &note],
            )?;
            Ok(if inserted == 1 {
                CredentialRevocation::Revoked
            } else {
                CredentialRevocation::AlreadyRevoked
            })
        })
    }

    fn status_version(&self) -> Result<(u64, u64), StoreError> {
        self.db().read_sql(|tx| {
            let revoked: i64 = tx
                .query_one("SELECT COUNT(*) FROM credential_revocations", &[])?
                .get(0);
            Ok((size_in(tx)?, revoked as u64))
        })
    }

    fn leaf_statuses(&self) -> Result<LeafStatuses, StoreError> {
        self.db().read_sql(|tx| {
            let size = size_in(tx)?;
            let mut column = |sql: &str| -> Result<Vec<u64>, StoreError> {
                Ok(tx
                    .query(sql, &[])?
                    .iter()
                    .map(|r| r.get::<_, i64>(0) as u64)
                    .collect())
            };
            Ok(LeafStatuses {
                size,
                superseded: column(
                    "SELECT o.leaf_index FROM ledger_records c
                     JOIN ledger_records o ON o.device_kid = c.device_kid AND o.id = c.supersedes
                     WHERE c.supersedes IS NOT NULL",
                )?,
                revoked: column("SELECT leaf_index FROM credential_revocations")?,
            })
        })
    }

    fn revocations(&self) -> Result<Vec<Revocation>, StoreError> {
        self.db().read_sql(|tx| {
            Ok(tx
                .query(
                    "SELECT kid, revoked_at, revoke_reason FROM devices WHERE revoked_at IS NOT NULL ORDER BY revoked_at",
                    &[],
                )?
                .iter()
                .map(|r| Revocation {
                    device_kid: ByteBuf::from(r.get::<_, Vec<u8>>(0)),
                    revoked_at: r.get(1),
                    reason: r.get::<_, Option<String>>(2).unwrap_or_default(),
                })
                .collect())
        })
    }

    fn ledger(&self) -> &dyn Ledger {
        &self.ledger
    }

    fn add_witness(&self, row: &WitnessRow, at: i64) -> Result<bool, StoreError> {
        self.db().write_sql(|tx| {
            let existing =
                tx.query_opt("SELECT vkey FROM witnesses WHERE name = $1", &[&row.name])?;
            match existing.map(|r| r.get::<_, String>(0)) {
                Some(vkey) if vkey != row.vkey => Ok(false),
                Some(_) => {
                    tx.execute(
                        "UPDATE witnesses SET url = $2 WHERE name = $1",
                        &[&row.name, &row.url],
                    )?;
                    Ok(true)
                }
                None => {
                    tx.execute(
                        "INSERT INTO witnesses (name, vkey, url, size, added_at)
                         VALUES ($1, $2, $3, NULL, $4)",
                        &[&row.name, &row.vkey, &row.url, &at],
                    )?;
                    Ok(true)
                }
            }
        })
    }

    fn witnesses(&self) -> Result<Vec<WitnessRow>, StoreError> {
        self.db().read_sql(|tx| {
            Ok(tx
                .query(
                    &format!("SELECT {WITNESS_COLUMNS} FROM witnesses ORDER BY added_at, seq"),
                    &[],
                )?
                .iter()
                .map(|r| witness_row(r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect())
        })
    }

    fn set_witness_quorum(&self, quorum: u32) -> Result<(), StoreError> {
        self.db().write_sql(|tx| {
            tx.execute(
                "INSERT INTO witness_policy (id, quorum) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET quorum = $1",
                &[&i64::from(quorum)],
            )?;
            Ok(())
        })
    }

    fn witness_quorum(&self) -> Result<u32, StoreError> {
        self.db().read_sql(|tx| {
            Ok(tx
                .query_opt("SELECT quorum FROM witness_policy WHERE id = 1", &[])?
                .map_or(0, |r| {
                    r.get::<_, i64>(0).clamp(0, i64::from(u32::MAX)) as u32
                }))
        })
    }

    fn record_witness_size(
        &self,
        name: &str,
        size: u64,
        line: Option<&str>,
        exact: bool,
    ) -> Result<(), StoreError> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        self.db().write_sql(|tx| {
            if exact {
                tx.execute(
                    "UPDATE witnesses SET size = $2 WHERE name = $1",
                    &[&name, &size],
                )?;
            } else {
                tx.execute(
                    "UPDATE witnesses SET size = GREATEST(COALESCE(size, 0), $2) WHERE name = $1",
                    &[&name, &size],
                )?;
            }
            if let Some(line) = line {
                tx.execute(
                    "INSERT INTO cosignatures (size, witness, line) VALUES ($1, $2, $3)
                     ON CONFLICT (size, witness) DO UPDATE SET line = $3",
                    &[&size, &name, &line],
                )?;
            }
            Ok(())
        })
    }

    fn cosignatures(&self, size: u64) -> Result<Vec<String>, StoreError> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        self.db().read_sql(|tx| {
            Ok(tx
                .query(
                    "SELECT c.line FROM cosignatures c JOIN witnesses w ON w.name = c.witness
                     WHERE c.size = $1 ORDER BY w.added_at, w.seq",
                    &[&size],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn match_records_after(&self, seq: i64, limit: u32) -> Result<Vec<MatchRecordRow>, StoreError> {
        self.db().read_sql(|tx| {
            let mut out = Vec::new();
            for row in tx.query(
                "SELECT seq, device_kid, id, keys, sealed_facts FROM match_records WHERE seq > $1
                 ORDER BY seq LIMIT $2",
                &[&seq, &i64::from(limit)],
            )? {
                out.push(MatchRecordRow {
                    seq: row.get(0),
                    kid: key_id(row.get(1))?,
                    id: uuid_of(row.get(2))?,
                    keys: split_keys(row.get(3))?,
                    sealed_facts: row.get(4),
                });
            }
            Ok(out)
        })
    }

    fn match_candidates(&self, seqs: &[i64]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let rows = self.db().read_sql(|tx| {
            Ok(tx.query(
                "SELECT seq, sealed_candidate FROM match_candidates WHERE seq = ANY($1)",
                &[&seqs],
            )?)
        })?;
        let found: HashMap<i64, Vec<u8>> = rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(seqs.iter().map(|seq| found.get(seq).cloned()).collect())
    }

    fn put_match_candidate(&self, seq: i64, sealed: &[u8]) -> Result<(), StoreError> {
        self.db().write_sql(|tx| {
            tx.execute(UPSERT_CANDIDATE, &[&seq, &sealed])?;
            Ok(())
        })
    }

    fn has_match_keys(&self, kid: &KeyId, id: &Uuid) -> Result<bool, StoreError> {
        self.db().read_sql(|tx| {
            Ok(tx
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM match_records WHERE device_kid = $1 AND id = $2)",
                    &[&kid.0.as_slice(), &id.as_bytes().as_slice()],
                )?
                .get(0))
        })
    }

    fn add_matches(
        &self,
        matches: &[RecordMatch],
        backfill_next: Option<u64>,
        seen: Option<i64>,
    ) -> Result<MatchRows, StoreError> {
        self.db()
            .write_sql(|tx| insert_matches(tx, matches, backfill_next, seen))
    }

    fn records_without_match_keys(
        &self,
        leaves: std::ops::Range<u64>,
    ) -> Result<Vec<(KeyId, Uuid, Option<Uuid>)>, StoreError> {
        let from = i64::try_from(leaves.start).unwrap_or(i64::MAX);
        let to = i64::try_from(leaves.end).unwrap_or(i64::MAX);
        self.db().read_sql(|tx| {
            let mut out = Vec::new();
            for row in tx.query(
                "SELECT r.device_kid, r.id, r.supersedes FROM records r
                 WHERE r.leaf_index >= $1 AND r.leaf_index < $2
                 AND NOT EXISTS (SELECT 1 FROM match_records m
                                 WHERE m.device_kid = r.device_kid AND m.id = r.id)
                 ORDER BY r.leaf_index",
                &[&from, &to],
            )? {
                let supersedes: Option<&[u8]> = row.get(2);
                out.push((
                    key_id(row.get(0))?,
                    uuid_of(row.get(1))?,
                    supersedes.map(uuid_of).transpose()?,
                ));
            }
            Ok(out)
        })
    }

    fn match_backfill_next(&self) -> Result<u64, StoreError> {
        self.db().read_sql(|tx| {
            Ok(tx
                .query_opt("SELECT next_leaf FROM match_backfill WHERE id = 1", &[])?
                .map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
        })
    }

    fn open_pairs(
        &self,
        record: Option<(&KeyId, &Uuid)>,
    ) -> Result<Vec<DuplicatePair>, StoreError> {
        let (kid, id) = match record {
            Some((kid, id)) => (Some(kid.0.to_vec()), Some(id.as_bytes().to_vec())),
            None => (None, None),
        };
        self.db().read_sql(|tx| {
            let rows = tx.query(
                &format!(
                    "SELECT {PAIR_COLUMNS} FROM duplicate_pairs
                     WHERE ($1::BYTEA IS NULL AND closed_at IS NULL)
                     OR (record_kid = $1 AND record_id = $2
                         AND (closed_at IS NULL OR decision = 'duplicate'))
                     ORDER BY opened_at, record_id, score DESC"
                ),
                &[&kid, &id],
            )?;
            rows.iter()
                .map(|r| {
                    duplicate_pair(
                        r.get(0),
                        r.get(1),
                        r.get(2),
                        r.get(3),
                        i64::from(r.get::<_, i32>(4)),
                        r.get(5),
                        r.get(6),
                        r.get(7),
                        r.get(8),
                    )
                })
                .collect()
        })
    }

    fn close_pairs(
        &self,
        record_id: &Uuid,
        candidate_id: &Uuid,
        decision: &str,
        at: i64,
    ) -> Result<u64, StoreError> {
        self.db().write_sql(|tx| {
            Ok(tx.execute(
                "UPDATE duplicate_pairs SET closed_at = $3, decision = $4
                 WHERE record_id = $1 AND candidate_id = $2 AND closed_at IS NULL",
                &[
                    &record_id.as_bytes().as_slice(),
                    &candidate_id.as_bytes().as_slice(),
                    &at,
                    &decision,
                ],
            )?)
        })
    }

    fn set_review(
        &self,
        kid: &KeyId,
        id: &Uuid,
        reasons: &[String],
        at: i64,
    ) -> Result<bool, StoreError> {
        self.db().write_sql(|tx| {
            Ok(tx.execute(
                "UPDATE registrations SET status = 'awaiting_review', reasons = $3, updated_at = $4
                 WHERE device_kid = $1 AND id = $2 AND status = 'declared'",
                &[
                    &kid.0.as_slice(),
                    &id.as_bytes().as_slice(),
                    &reasons.join(","),
                    &at,
                ],
            )? == 1)
        })
    }

    fn set_review_reasons(
        &self,
        kid: &KeyId,
        id: &Uuid,
        reasons: &[String],
        at: i64,
    ) -> Result<(), StoreError> {
        self.db().write_sql(|tx| {
            tx.execute(
                "UPDATE registrations SET reasons = $3, updated_at = $4
                 WHERE device_kid = $1 AND id = $2 AND status = 'awaiting_review'",
                &[
                    &kid.0.as_slice(),
                    &id.as_bytes().as_slice(),
                    &reasons.join(","),
                    &at,
                ],
            )?;
            Ok(())
        })
    }

    fn registration(&self, kid: &KeyId, id: &Uuid) -> Result<Option<RegistrationRow>, StoreError> {
        self.db().read_sql(|tx| {
            tx.query_opt(
                &format!(
                    "SELECT {REGISTRATION_COLUMNS} FROM registrations WHERE device_kid = $1 AND id = $2"
                ),
                &[&kid.0.as_slice(), &id.as_bytes().as_slice()],
            )?
            .map(|r| pg_registration(&r))
            .transpose()
        })
    }

    fn registrations(&self, status: Option<&str>) -> Result<Vec<RegistrationRow>, StoreError> {
        self.db().read_sql(|tx| {
            tx.query(
                &format!(
                    "SELECT {REGISTRATION_COLUMNS} FROM registrations
                     WHERE $1::TEXT IS NULL OR status = $1 ORDER BY updated_at, id"
                ),
                &[&status],
            )?
            .iter()
            .map(pg_registration)
            .collect()
        })
    }

    fn decisions_of(&self, kid: &KeyId, id: &Uuid) -> Result<Vec<DecisionRow>, StoreError> {
        self.db().read_sql(|tx| {
            tx.query(
                &format!(
                    "SELECT {DECISION_COLUMNS} FROM decisions WHERE device_kid = $1 AND id = $2
                     ORDER BY leaf_index"
                ),
                &[&kid.0.as_slice(), &id.as_bytes().as_slice()],
            )?
            .iter()
            .map(pg_decision)
            .collect()
        })
    }

    fn decisions_of_device(&self, kid: &KeyId) -> Result<Vec<DecisionRow>, StoreError> {
        self.db().read_sql(|tx| {
            tx.query(
                &format!(
                    "SELECT {DECISION_COLUMNS} FROM decisions WHERE device_kid = $1
                     ORDER BY leaf_index"
                ),
                &[&kid.0.as_slice()],
            )?
            .iter()
            .map(pg_decision)
            .collect()
        })
    }

    fn review_policy(&self) -> Result<ReviewPolicy, StoreError> {
        self.db().read_sql(|tx| {
            match tx.query_opt(
                "SELECT max_age_days, review_corrections FROM review_policy WHERE id = 1",
                &[],
            )? {
                Some(r) => Ok(ReviewPolicy {
                    max_age_days: u32::try_from(r.get::<_, i64>(0))
                        .map_err(|_| StoreError::Damaged("the review policy".into()))?,
                    review_corrections: r.get(1),
                }),
                None => Ok(ReviewPolicy::default()),
            }
        })
    }

    fn set_review_policy(&self, policy: &ReviewPolicy) -> Result<(), StoreError> {
        self.db().write_sql(|tx| {
            tx.execute(
                "INSERT INTO review_policy(id, max_age_days, review_corrections) VALUES (1, $1, $2)
                 ON CONFLICT (id) DO UPDATE SET max_age_days = $1, review_corrections = $2",
                &[&i64::from(policy.max_age_days), &policy.review_corrections],
            )?;
            Ok(())
        })
    }
}

fn pg_registration(r: &postgres::Row) -> Result<RegistrationRow, StoreError> {
    registration_row((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
}

fn pg_decision(r: &postgres::Row) -> Result<DecisionRow, StoreError> {
    decision_row(
        r.get(0),
        r.get(1),
        r.get(2),
        r.get(3),
        r.get(4),
        r.get(5),
        r.get(6),
        r.get(7),
        r.get(8),
        r.get(9),
        r.get(10),
    )
}

fn uuid_of(bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| StoreError::Damaged("a record id".into()))
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[start..].find('/').map_or(base.len(), |i| start + i);
    format!("{}/{name}{query}", &base[..host_end])
}

/// Test databases on a real PostgreSQL server: `BIRTHRIGHT_TEST_DATABASE_URL`, or the local
/// server at 127.0.0.1:5432 (user `postgres`). Each [`TestDatabase`] is created with a random
/// name and dropped with it. Outside CI an unreachable server skips the tests that need it;
/// with `CI=true` it fails them.
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// The server the tests use.
    pub fn server_url() -> String {
        std::env::var("BIRTHRIGHT_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    /// Whether the server is reachable; panics when it is not and `CI` is `true`.
    pub fn available() -> bool {
        match Client::connect(&server_url(), NoTls) {
            Ok(_) => true,
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!(
                    "PostgreSQL at {} is not reachable (CI=true): {e}",
                    redact_url(&server_url())
                )
            }
            Err(e) => {
                eprintln!(
                    "skipped: PostgreSQL at {} is not reachable: {e}",
                    redact_url(&server_url())
                );
                false
            }
        }
    }

    /// A database created for one test and dropped afterwards.
    pub struct TestDatabase {
        name: String,
        /// Its URL.
        pub url: String,
    }

    impl TestDatabase {
        /// Creates a database with a random name.
        pub fn create() -> TestDatabase {
            let mut random = [0u8; 8];
            birthright_core::keys::os_random(&mut random).expect("randomness");
            let name = format!("birthright_test_{}", hex::encode(random));
            let mut admin = Client::connect(&server_url(), NoTls).expect("PostgreSQL server");
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create the test database");
            TestDatabase {
                url: with_database(&server_url(), &name),
                name,
            }
        }
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            if let Ok(mut admin) = Client::connect(&server_url(), NoTls) {
                let _ = admin.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{testing::TestDatabase, *};
    use crate::sequencer::conformance::{Harness, conformance_suite};
    use crate::store::Candidate;

    /// The PostgreSQL backend under the conformance suite.
    struct Postgres;

    impl Harness for Postgres {
        type Backend = PgLedger;
        type Guard = TestDatabase;
        const SCHEMA_VERSIONS: usize = MIGRATIONS.len();

        fn skip() -> bool {
            !testing::available()
        }

        fn fresh() -> (TestDatabase, PgLedger) {
            let db = TestDatabase::create();
            let ledger = PgLedger::open(&db.url).unwrap();
            (db, ledger)
        }

        fn upgraded_from(
            version: usize,
            leaves: &[Vec<u8>],
            nodes: &[(u8, u64, Hash)],
            note: &str,
        ) -> (TestDatabase, PgLedger) {
            if version == 0 {
                return Self::fresh();
            }
            // A database at `version` holding the old ledger, then opened (and so migrated).
            let db = TestDatabase::create();
            {
                let mut client = Client::connect(&db.url, NoTls).unwrap();
                client
                    .batch_execute(
                        "CREATE TABLE birthright_schema (version INTEGER NOT NULL);
                         INSERT INTO birthright_schema(version) VALUES (0);",
                    )
                    .unwrap();
                for sql in &MIGRATIONS[..version] {
                    client.batch_execute(sql).unwrap();
                }
                client
                    .execute(
                        "UPDATE birthright_schema SET version = $1",
                        &[&(version as i32)],
                    )
                    .unwrap();
                for (i, leaf) in leaves.iter().enumerate() {
                    client
                        .execute("INSERT INTO leaves VALUES ($1, $2)", &[&(i as i64), leaf])
                        .unwrap();
                }
                for (level, index, hash) in nodes {
                    client
                        .execute(
                            "INSERT INTO nodes VALUES ($1, $2, $3)",
                            &[&i16::from(*level), &(*index as i64), &hash.as_slice()],
                        )
                        .unwrap();
                }
                let text_end = note.rfind("\n\n").map_or(note.len(), |i| i + 1);
                let root =
                    birthright_core::ledger::checkpoint::Checkpoint::parse(&note[..text_end])
                        .unwrap()
                        .root_hash
                        .to_vec();
                client
                    .execute(
                        "INSERT INTO checkpoints(size, note, root) VALUES ($1, $2, $3)",
                        &[&(leaves.len() as i64), &note, &root],
                    )
                    .unwrap();
            }
            let ledger = PgLedger::open(&db.url).unwrap();
            (db, ledger)
        }
    }

    conformance_suite!(Postgres);

    /// The schema of the database at `url`: every column, index and trigger, for comparing
    /// an upgraded database with a fresh one.
    fn schema_of(url: &str) -> Vec<String> {
        let mut client = Client::connect(url, NoTls).unwrap();
        let mut schema = Vec::new();
        for sql in [
            "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
             FROM information_schema.columns WHERE table_schema = 'public'",
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'",
            "SELECT tgname || ' ON ' || tgrelid::regclass::text FROM pg_trigger
             WHERE NOT tgisinternal",
        ] {
            let mut rows: Vec<String> = client
                .query(sql, &[])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            rows.sort();
            schema.extend(rows);
        }
        schema
    }

    /// Every PostgreSQL schema version upgrades to exactly the schema of a fresh database
    /// (the upgrade test SQLite runs through `birthright_core::sqlite`).
    #[test]
    fn every_schema_version_upgrades_to_the_fresh_schema() {
        if !testing::available() {
            return;
        }
        let fresh = TestDatabase::create();
        PgLedger::open(&fresh.url).unwrap();
        let expected = schema_of(&fresh.url);
        for version in 1..=MIGRATIONS.len() {
            let old = TestDatabase::create();
            {
                let mut client = Client::connect(&old.url, NoTls).unwrap();
                client
                    .batch_execute(
                        "CREATE TABLE birthright_schema (version INTEGER NOT NULL);
                         INSERT INTO birthright_schema VALUES (0);",
                    )
                    .unwrap();
                for sql in &MIGRATIONS[..version] {
                    client.batch_execute(sql).unwrap();
                }
                client
                    .execute(
                        "UPDATE birthright_schema SET version = $1",
                        &[&(version as i32)],
                    )
                    .unwrap();
            }
            PgLedger::open(&old.url).unwrap();
            assert_eq!(
                schema_of(&old.url),
                expected,
                "upgrade from version {version}"
            );
        }
    }

    #[test]
    fn witness_rows() {
        if !testing::available() {
            return;
        }
        let db = TestDatabase::create();
        let store = PgStore::open(&db.url, StorageKey::generate().unwrap()).unwrap();
        crate::store::witness_rows_behave(&store);
    }

    #[test]
    fn match_rows() {
        if !testing::available() {
            return;
        }
        let db = TestDatabase::create();
        let store = PgStore::open(&db.url, StorageKey::generate().unwrap()).unwrap();
        crate::store::match_rows_behave(&store);
    }

    #[test]
    fn an_unreachable_server_is_reported_with_its_cause_and_without_the_password() {
        let Err(e) = PgLedger::open("postgres://postgres:secret@127.0.0.1:1/none") else {
            panic!("connected to port 1");
        };
        let message = e.to_string();
        assert!(matches!(e, StoreError::Unavailable(_)), "{message}");
        assert!(message.contains("refused"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }

    /// Connection attempts back off 100 ms, 200 ms, 400 ms ... up to 5 s while they fail, one
    /// attempt per wait however many callers ask, and start over after a success.
    #[test]
    fn reconnects_back_off_exponentially_and_bounded() {
        let start = Instant::now();
        let mut b = Backoff::default();
        assert_eq!(b.permit(start), Ok(()));
        let mut now = start;
        let mut waits = Vec::new();
        for _ in 0..10 {
            b.failed(now);
            let wait = b.permit(now).unwrap_err();
            assert_eq!(b.permit(now + wait / 2), Err(wait - wait / 2));
            waits.push(wait.as_millis());
            now += wait;
            assert_eq!(b.permit(now), Ok(()), "an attempt once the wait is over");
            assert!(b.permit(now).is_err(), "only one caller attempts per wait");
        }
        assert_eq!(
            waits,
            vec![100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]
        );
        b.succeeded();
        assert_eq!(b.permit(now), Ok(()));
        assert_eq!(b.permit(now), Ok(()), "no wait after a success");
    }

    /// While the server is out of reach, calls fail at once as `Unavailable` without a new
    /// connection attempt each.
    #[test]
    fn an_unreachable_server_is_not_retried_on_every_call() {
        let backoff = Arc::new(Mutex::new(Backoff::default()));
        let mut conn = Conn::new("postgres://postgres@127.0.0.1:1/none", backoff.clone());
        for _ in 0..20 {
            let Err(e) = conn.client() else {
                panic!("connected to port 1")
            };
            assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
        }
        assert_eq!(
            backoff.lock().unwrap().failures,
            1,
            "one attempt, not twenty"
        );
    }

    #[test]
    fn urls_name_the_database_and_hide_passwords() {
        assert_eq!(
            with_database("postgres://u:secret@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:secret@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u@h:5432/db"
        );
    }

    /// The server drops every connection of the registry (a restart, a network cut): a
    /// call then fails as `Unavailable` or succeeds on a new connection, nothing is half
    /// written, and the device's retry of the same batch lands exactly once.
    #[test]
    fn a_lost_connection_is_reopened_and_the_retry_lands_once() {
        if !testing::available() {
            return;
        }
        let db = TestDatabase::create();
        let store = PgStore::open(&db.url, StorageKey::generate().unwrap()).unwrap();
        let sign = |size: u64, root: &Hash| {
            birthright_core::ledger::checkpoint::sign_checkpoint(
                &birthright_core::ledger::note::NoteSigner::new(
                    "registry.test/births",
                    ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
                )?,
                &birthright_core::ledger::checkpoint::Checkpoint {
                    origin: "registry.test/births".into(),
                    size,
                    root_hash: *root,
                    extensions: vec![],
                },
            )
        };
        let candidate = |n: u128| Candidate {
            id: Uuid::from_u128(n),
            bytes: format!("record {n}").into_bytes(),
            kid: KeyId([1; 8]),
            supersedes: None,
        };
        store
            .sequence(&Uuid::from_u128(1), &[candidate(1)], 5, &sign)
            .unwrap();
        let name = db.url.rsplit('/').next().unwrap().to_string();
        let mut admin = Client::connect(&testing::server_url(), NoTls).unwrap();
        let cut = |admin: &mut Client| {
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&name],
                )
                .unwrap();
        };
        cut(&mut admin);
        let batch = [candidate(2), candidate(3)];
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            match store.sequence(&Uuid::from_u128(2), &batch, 5, &sign) {
                Ok(done) => outcomes.push(done),
                Err(StoreError::Unavailable(_)) => {}
                Err(e) => panic!("not reported as unavailable: {e}"),
            }
        }
        assert!(!outcomes.is_empty(), "the connection was never reopened");
        assert_eq!(
            store.tree_size().unwrap(),
            3,
            "the batch landed exactly once"
        );
        for done in &outcomes[1..] {
            assert!(
                done.results
                    .iter()
                    .all(|r| matches!(r, crate::store::Sequenced::Duplicate(_)))
            );
        }
        // Reads recover the same way.
        cut(&mut admin);
        let mut served = None;
        for _ in 0..3 {
            match store.latest_checkpoint(&sign) {
                Ok((size, _)) => served = Some(size),
                Err(StoreError::Unavailable(_)) => {}
                Err(e) => panic!("not reported as unavailable: {e}"),
            }
        }
        assert_eq!(served, Some(3));
    }

    /// Two stores (as two registry processes) on one database: batches through both are one
    /// tree, no index is assigned twice, and a token is used once across them.
    #[test]
    fn two_processes_on_one_database_sequence_one_tree() {
        if !testing::available() {
            return;
        }
        let db = TestDatabase::create();
        let key = StorageKey::generate().unwrap();
        let a = std::sync::Arc::new(PgStore::open(&db.url, key.clone()).unwrap());
        let b = std::sync::Arc::new(PgStore::open(&db.url, key).unwrap());
        let signer = birthright_core::ledger::note::NoteSigner::new(
            "registry.test/births",
            ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
        )
        .unwrap();
        let sign = move |size: u64, root: &Hash| {
            birthright_core::ledger::checkpoint::sign_checkpoint(
                &signer,
                &birthright_core::ledger::checkpoint::Checkpoint {
                    origin: "registry.test/births".into(),
                    size,
                    root_hash: *root,
                    extensions: vec![],
                },
            )
        };
        let sign = std::sync::Arc::new(sign);
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let store = if t % 2 == 0 { a.clone() } else { b.clone() };
                let sign = sign.clone();
                std::thread::spawn(move || {
                    for n in 0..10u128 {
                        let c = Candidate {
                            id: Uuid::from_u128(u128::from(t) << 64 | n),
                            bytes: format!("record {t} {n}").into_bytes(),
                            kid: KeyId([t; 8]),
                            supersedes: None,
                        };
                        let batch = store
                            .sequence(&Uuid::from_u128(n), std::slice::from_ref(&c), 5, &*sign)
                            .unwrap();
                        assert!(matches!(
                            batch.results[0],
                            crate::store::Sequenced::Accepted(_)
                        ));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(a.tree_size().unwrap(), 40);
        let (size, note) = b.latest_checkpoint(&*sign).unwrap();
        assert_eq!(size, 40);
        assert_eq!(a.latest_checkpoint(&*sign).unwrap(), (40, note));
        let leaves = a.leaves(0, 40).unwrap();
        let hashes: Vec<Hash> = leaves
            .iter()
            .map(|l| birthright_core::ledger::merkle::leaf_hash(l))
            .collect();
        let root = birthright_core::ledger::merkle::root_from_leaf_hashes(&hashes);
        for old in [1u64, 7, 20, 39] {
            let proof = b.consistency_proof(old, 40).unwrap();
            birthright_core::ledger::merkle::verify_consistency(
                old,
                40,
                &proof,
                &birthright_core::ledger::merkle::root_from_leaf_hashes(&hashes[..old as usize]),
                &root,
            )
            .unwrap();
        }
        // One token, two processes: one enrols, the other is refused.
        a.insert_token(&[1; 32], &[2; 32], "w", "r", 0, i64::MAX)
            .unwrap();
        let device = |kid: u8| DeviceRow {
            kid: KeyId([kid; 8]),
            public_key: [kid; 32],
            worker_id: "w".into(),
            region: "r".into(),
            enrolled_at: 1,
            not_before: 1,
            not_after: 2,
            revoked_at: None,
            revoke_reason: None,
            revoke_note: None,
        };
        let first = a
            .enrol(&[1; 32], 1, &mut |_| true, &mut |_, _| device(10))
            .unwrap();
        assert!(first.is_ok());
        let second = b
            .enrol(&[1; 32], 1, &mut |_| true, &mut |_, _| device(11))
            .unwrap();
        assert_eq!(second, Err(TokenProblem::Used));
        assert_eq!(b.devices().unwrap().len(), 1);
    }
}
