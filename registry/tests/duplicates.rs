//! Duplicate detection at the registry (docs/MATCHING.md §7), on SQLite and on PostgreSQL:
//! the records of one batch are matched with each other as with the stored ones; and the
//! back-fill of the keyed blocking hashes: records stored before duplicate detection (their keys emptied
//! here, as a registry upgraded from before schema version 7 has none) get their keys when
//! the registry opens, in steps that each commit with their position, so a back-fill stopped
//! between two steps resumes where it stopped; a finished back-fill changes nothing when run
//! again; and a new duplicate of an old record is then held with the old one as candidate.

mod common;

use std::{path::Path, sync::Arc};

use birthright_core::{
    device::Device,
    fixtures::{reference_input, sample_inputs},
    record::{DatePrecision, RegistrationForm},
};
use birthright_registry::{
    Registry, local::LocalTransport, pg::testing::TestDatabase, service::Database,
};
use time::OffsetDateTime;
use uuid::Uuid;

use common::{NoProgress, enrolled_device};

/// A registry in a directory on one backend, and a way to run SQL on its database.
struct World {
    dir: tempfile::TempDir,
    database: Database,
    _guard: Option<TestDatabase>,
}

impl World {
    fn new(postgres: bool) -> Option<World> {
        let dir = tempfile::tempdir().unwrap();
        let (database, guard) = common::test_database(postgres)?;
        Registry::init_on(dir.path(), "registry.test/births", &database).unwrap();
        Some(World {
            dir,
            database,
            _guard: guard,
        })
    }

    fn open(&self) -> Arc<Registry> {
        Arc::new(Registry::open_on(self.dir.path(), &self.database).unwrap())
    }

    /// Runs `sql` (no parameters, no rows) on the registry's database.
    fn execute(&self, sql: &str) {
        match &self.database {
            Database::Sqlite => {
                rusqlite::Connection::open(self.dir.path().join("registry.db"))
                    .unwrap()
                    .execute_batch(sql)
                    .unwrap();
            }
            Database::Postgres(url) => {
                postgres::Client::connect(url, postgres::NoTls)
                    .unwrap()
                    .batch_execute(sql)
                    .unwrap();
            }
        }
    }

    /// The one number `sql` selects.
    fn count(&self, sql: &str) -> i64 {
        match &self.database {
            Database::Sqlite => rusqlite::Connection::open(self.dir.path().join("registry.db"))
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
            Database::Postgres(url) => postgres::Client::connect(url, postgres::NoTls)
                .unwrap()
                .query_one(sql, &[])
                .unwrap()
                .get(0),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// `form` born recently, so the review policy registers it at once.
fn recent(mut form: RegistrationForm) -> RegistrationForm {
    let born = OffsetDateTime::now_utc().date() - time::Duration::days(40);
    form.child.date_of_birth = born.to_string();
    form.child.date_of_birth_precision = Some(DatePrecision::Day);
    form
}

fn sync(registry: &Arc<Registry>, device: &Device) -> birthright_core::sync::SyncReport {
    device
        .sync_with_sleep(
            &LocalTransport::new(registry.clone()),
            &NoProgress,
            birthright_core::sync::SyncConfig::default(),
            &mut |_| {},
        )
        .unwrap()
}

/// The ids of the candidates of `record`'s open pairs.
fn candidates_of(registry: &Registry, record: Uuid) -> Vec<Uuid> {
    registry
        .duplicates()
        .unwrap()
        .into_iter()
        .filter(|p| p.record_id == record)
        .map(|p| p.candidate_id)
        .collect()
}

fn old_records_get_their_keys_and_are_found(postgres: bool) {
    let Some(world) = World::new(postgres) else {
        return;
    };
    let registry = world.open();
    let old_device = enrolled_device(&registry, "w-old");
    let child = recent(reference_input());
    let original = old_device.capture(&child).unwrap().summary.id;
    for form in sample_inputs(6, 41, OffsetDateTime::now_utc().date()) {
        old_device.capture(&recent(form)).unwrap();
    }
    let report = sync(&registry, &old_device);
    assert_eq!(report.accepted, 7);
    let keys_at_ingest =
        world.count("SELECT coalesce(sum(length(keys)), 0) / 32 FROM match_records");
    assert_eq!(
        world.count("SELECT count(*) FROM match_records"),
        7,
        "one row per record"
    );
    assert!(keys_at_ingest > 0, "ingest stores each record's keys");
    drop(registry);

    // As before duplicate detection: no keys, the back-fill never ran.
    world.execute("DELETE FROM match_records; DELETE FROM match_backfill;");
    let keyless = |world: &World| {
        world.count(
            "SELECT count(*) FROM records r WHERE NOT EXISTS
             (SELECT 1 FROM match_records m WHERE m.device_kid = r.device_kid AND m.id = r.id)",
        )
    };
    assert_eq!(keyless(&world), 7);

    // Without its keys the old record is no candidate: a copy of it is not held.
    let registry = Arc::new(
        Registry::with_store(
            birthright_registry::keys::RegistryKeys::load(world.path()).unwrap(),
            open_store_without_backfill(&world),
        )
        .unwrap(),
    );
    let unseen_device = enrolled_device(&registry, "w-unseen");
    let unseen_copy = unseen_device.capture(&child).unwrap().summary.id;
    let report = sync(&registry, &unseen_device);
    assert_eq!(report.accepted, 1);
    assert!(
        candidates_of(&registry, unseen_copy).is_empty(),
        "without keys the old record is not found"
    );

    // One step of two leaves, then the process stops: the step's records have their keys and
    // the position is kept.
    let step = registry.backfill_match_keys_step(2).unwrap();
    assert_eq!((step.keyed, step.matched, step.next_leaf), (2, 0, 2));
    assert!(!step.done);
    assert_eq!(keyless(&world), 5);
    drop(registry);

    // Opening the registry finishes the back-fill from there.
    let registry = world.open();
    assert_eq!(keyless(&world), 0);
    assert_eq!(
        world.count("SELECT coalesce(sum(length(keys)), 0) / 32 FROM match_records"),
        keys_at_ingest + world.count_keys_of(unseen_copy),
        "the old records' keys are the ones ingest stored"
    );
    let size = registry.tree_size().unwrap();
    assert_eq!(
        world.count("SELECT next_leaf FROM match_backfill"),
        size as i64
    );

    // Idempotent: run again, nothing is added.
    let again = registry.backfill_match_keys().unwrap();
    assert_eq!((again.keyed, again.matched), (0, 0));
    assert!(again.done);
    let keys_now = world.count("SELECT coalesce(sum(length(keys)), 0) / 32 FROM match_records");
    drop(registry);
    let registry = world.open();
    assert_eq!(
        world.count("SELECT coalesce(sum(length(keys)), 0) / 32 FROM match_records"),
        keys_now
    );

    // A new duplicate of the old record is held with the old one as its candidate.
    let new_device = enrolled_device(&registry, "w-new");
    let mut latin = child.clone();
    latin.child.given_names = "Olena".into();
    latin.child.family_name = "Kovalenko".into();
    let copy = new_device.capture(&latin).unwrap().summary.id;
    let report = sync(&registry, &new_device);
    assert_eq!(report.accepted, 1);
    let candidates = candidates_of(&registry, copy);
    assert!(candidates.contains(&original), "{candidates:?}");
}

/// The registry's store opened as `Registry::open_on` does, but without its back-fill: the
/// state of a registry between the upgrade and its first open.
fn open_store_without_backfill(
    world: &World,
) -> Box<dyn birthright_registry::store::RegistryStore> {
    let keys = birthright_registry::keys::RegistryKeys::load(world.path()).unwrap();
    match &world.database {
        Database::Sqlite => Box::new(
            birthright_registry::store::SqliteStore::open(
                &world.path().join("registry.db"),
                keys.data_key.clone(),
            )
            .unwrap()
            .with_head_file(&world.path().join(birthright_registry::head::HEAD_FILE))
            .unwrap(),
        ),
        Database::Postgres(url) => Box::new(
            birthright_registry::pg::PgStore::open(url, keys.data_key.clone())
                .unwrap()
                .with_head_file(&world.path().join(birthright_registry::head::HEAD_FILE))
                .unwrap(),
        ),
    }
}

impl World {
    /// How many keyed hashes record `id` has.
    fn count_keys_of(&self, id: Uuid) -> i64 {
        let hex = hex::encode(id.as_bytes());
        match &self.database {
            Database::Sqlite => self.count(&format!(
                "SELECT length(keys) / 32 FROM match_records WHERE id = x'{hex}'"
            )),
            Database::Postgres(_) => self.count(&format!(
                "SELECT CAST(length(keys) / 32 AS BIGINT) FROM match_records WHERE id = '\\x{hex}'::bytea"
            )),
        }
    }
}

#[test]
fn old_records_get_their_keys_and_are_found_on_sqlite() {
    old_records_get_their_keys_and_are_found(false);
}

#[test]
fn old_records_get_their_keys_and_are_found_on_postgres() {
    old_records_get_their_keys_and_are_found(true);
}

/// Two copies of one child in one batch: the second is held with the first as its candidate,
/// though the batch's keys are stored together after both were matched.
fn the_same_child_twice_in_one_batch_is_held(postgres: bool) {
    let Some(world) = World::new(postgres) else {
        return;
    };
    let registry = world.open();
    let device = enrolled_device(&registry, "w-1");
    let child = recent(reference_input());
    let first = device.capture(&child).unwrap().summary.id;
    let mut latin = child.clone();
    latin.child.given_names = "Olena".into();
    latin.child.family_name = "Kovalenko".into();
    let second = device.capture(&latin).unwrap().summary.id;
    let other = device
        .capture(&recent(
            sample_inputs(1, 77, OffsetDateTime::now_utc().date())[0].clone(),
        ))
        .unwrap()
        .summary
        .id;
    let report = sync(&registry, &device);
    assert_eq!((report.accepted, report.batches), (3, 1), "{report:?}");
    assert!(candidates_of(&registry, first).is_empty());
    assert_eq!(candidates_of(&registry, second), vec![first]);
    assert!(candidates_of(&registry, other).is_empty());
    let pairs = registry.duplicates().unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].level, "likely");
    assert!(
        pairs[0]
            .reasons
            .contains(&"same mother and date of birth".to_string()),
        "{:?}",
        pairs[0].reasons
    );
}

#[test]
fn the_same_child_twice_in_one_batch_is_held_on_sqlite() {
    the_same_child_twice_in_one_batch_is_held(false);
}

#[test]
fn the_same_child_twice_in_one_batch_is_held_on_postgres() {
    the_same_child_twice_in_one_batch_is_held(true);
}

/// The blocking index is kept in memory by each registry process (docs/MATCHING.md §7): one
/// whose index was built before another process stored a record still finds that record,
/// because each use first reads the rows stored since.
fn an_index_built_earlier_sees_records_another_process_stored(postgres: bool) {
    let Some(world) = World::new(postgres) else {
        return;
    };
    let early = world.open();
    let first = enrolled_device(&early, "w-first");
    first
        .capture(&recent(
            sample_inputs(1, 7, OffsetDateTime::now_utc().date())[0].clone(),
        ))
        .unwrap();
    assert_eq!(sync(&early, &first).accepted, 1, "the index is built here");

    let other = world.open();
    let second = enrolled_device(&other, "w-second");
    let child = recent(reference_input());
    let original = second.capture(&child).unwrap().summary.id;
    assert_eq!(sync(&other, &second).accepted, 1);

    let third = enrolled_device(&early, "w-third");
    let copy = third.capture(&child).unwrap().summary.id;
    assert_eq!(sync(&early, &third).accepted, 1);
    assert_eq!(candidates_of(&early, copy), vec![original]);

    // Each process's own rows join its index as they are stored (not read back), the other's
    // are read on: both see all three copies.
    let fourth = enrolled_device(&other, "w-fourth");
    let copy_there = fourth.capture(&child).unwrap().summary.id;
    assert_eq!(sync(&other, &fourth).accepted, 1);
    let fifth = enrolled_device(&early, "w-fifth");
    let copy_here = fifth.capture(&child).unwrap().summary.id;
    assert_eq!(sync(&early, &fifth).accepted, 1);
    let sorted = |mut ids: Vec<Uuid>| {
        ids.sort();
        ids
    };
    assert_eq!(
        sorted(candidates_of(&early, copy_there)),
        sorted(vec![original, copy])
    );
    assert_eq!(
        sorted(candidates_of(&early, copy_here)),
        sorted(vec![original, copy, copy_there])
    );
}

#[test]
fn an_index_built_earlier_sees_records_another_process_stored_on_sqlite() {
    an_index_built_earlier_sees_records_another_process_stored(false);
}

#[test]
fn an_index_built_earlier_sees_records_another_process_stored_on_postgres() {
    an_index_built_earlier_sees_records_another_process_stored(true);
}

/// Each row of `match_records` keeps its record's facts for the bound sealed, bound to the
/// row's device, id and hashes (docs/MATCHING.md §7): an insider who gives a record's row
/// another record's facts (that would rule it out without reading it) or hashes (under which
/// it would not be found) does not hide it from matching: the facts do not open, so the
/// registry makes the row's hashes and facts again from the record. Likewise a record whose
/// sealed candidate form (`match_candidates`) was swapped for another's is scored from its
/// record.
fn a_record_whose_row_was_altered_is_still_found(postgres: bool, table: &str, column: &str) {
    let Some(world) = World::new(postgres) else {
        return;
    };
    let registry = world.open();
    let device = enrolled_device(&registry, "w-1");
    let unrelated = sample_inputs(1, 7, OffsetDateTime::now_utc().date())[0].clone();
    let mut unrelated = recent(unrelated);
    unrelated.child.date_of_birth = "2019-01-05".into();
    device.capture(&unrelated).unwrap();
    assert_eq!(sync(&registry, &device).accepted, 1);
    let child = recent(reference_input());
    let original = device.capture(&child).unwrap().summary.id;
    assert_eq!(sync(&registry, &device).accepted, 1);
    drop(registry);
    assert_eq!(world.count("SELECT COUNT(*) FROM match_records"), 2);
    assert_eq!(world.count("SELECT COUNT(*) FROM match_candidates"), 2);
    world.execute(&format!(
        "UPDATE {table} SET {column} =
             (SELECT {column} FROM {table} ORDER BY seq LIMIT 1)
         WHERE seq = (SELECT MAX(seq) FROM {table})"
    ));

    let registry = world.open();
    let copier = enrolled_device(&registry, "w-2");
    let copy = copier.capture(&child).unwrap().summary.id;
    assert_eq!(sync(&registry, &copier).accepted, 1);
    assert_eq!(candidates_of(&registry, copy), vec![original]);
    if table == "match_candidates" {
        // The swapped form was made again from its record: no two rows are alike.
        assert_eq!(
            world.count(
                "SELECT COUNT(*) FROM match_candidates a JOIN match_candidates b
                 ON a.seq < b.seq AND a.sealed_candidate = b.sealed_candidate"
            ),
            0
        );
    }
}

/// Candidate forms dropped by an upgrade (schema 13 on SQLite, 9 on PostgreSQL: a new layout)
/// or never stored (records matched before the table existed) are made again from their
/// records the first time each is a candidate, and the record is found as before.
fn candidate_forms_dropped_are_made_again(postgres: bool) {
    let Some(world) = World::new(postgres) else {
        return;
    };
    let registry = world.open();
    let device = enrolled_device(&registry, "w-1");
    let child = recent(reference_input());
    let original = device.capture(&child).unwrap().summary.id;
    assert_eq!(sync(&registry, &device).accepted, 1);
    drop(registry);
    world.execute("DELETE FROM match_candidates");

    let registry = world.open();
    let copier = enrolled_device(&registry, "w-2");
    let copy = copier.capture(&child).unwrap().summary.id;
    assert_eq!(sync(&registry, &copier).accepted, 1);
    assert_eq!(candidates_of(&registry, copy), vec![original]);
    assert_eq!(
        world.count("SELECT COUNT(*) FROM match_candidates"),
        2,
        "the original's form was made again beside the copy's"
    );
}

#[test]
fn candidate_forms_dropped_are_made_again_on_sqlite() {
    candidate_forms_dropped_are_made_again(false);
}

#[test]
fn candidate_forms_dropped_are_made_again_on_postgres() {
    candidate_forms_dropped_are_made_again(true);
}

#[test]
fn a_record_whose_row_was_given_other_facts_is_still_found_on_sqlite() {
    a_record_whose_row_was_altered_is_still_found(false, "match_records", "sealed_facts");
}

#[test]
fn a_record_whose_row_was_given_other_facts_is_still_found_on_postgres() {
    a_record_whose_row_was_altered_is_still_found(true, "match_records", "sealed_facts");
}

#[test]
fn a_record_whose_row_was_given_other_hashes_is_still_found_on_sqlite() {
    a_record_whose_row_was_altered_is_still_found(false, "match_records", "keys");
}

#[test]
fn a_record_whose_row_was_given_other_hashes_is_still_found_on_postgres() {
    a_record_whose_row_was_altered_is_still_found(true, "match_records", "keys");
}

#[test]
fn a_record_whose_candidate_form_was_swapped_is_still_found_on_sqlite() {
    a_record_whose_row_was_altered_is_still_found(false, "match_candidates", "sealed_candidate");
}

#[test]
fn a_record_whose_candidate_form_was_swapped_is_still_found_on_postgres() {
    a_record_whose_row_was_altered_is_still_found(true, "match_candidates", "sealed_candidate");
}
