//! Duplicate detection end to end (docs/MATCHING.md): two workers on two devices register the
//! same child; the second record is held for review with the first as its candidate, and a
//! registrar's decision closes the pair. On SQLite and PostgreSQL.

use serde_json::Value;

use crate::support::*;

#[test]
fn the_same_child_from_two_devices_is_held_for_review() {
    same_child_twice(Backend::Sqlite);
}

#[test]
fn the_same_child_from_two_devices_is_held_for_review_on_postgresql() {
    same_child_twice(Backend::Postgres);
}

fn same_child_twice(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let Some(registry) = start_registry_on(root.path(), backend) else {
        return;
    };
    let first = enrolled_device(root.path(), &registry, &registry.url, "w-first");
    let second = enrolled_device(root.path(), &registry, &registry.url, "w-second");
    // The first worker registers Олена; the second, a week later in the registry's eyes, the
    // same child with her names in Latin letters.
    let original = capture(&first, 1).remove(0);
    let report = sync_json(&first, &registry.url);
    assert_eq!(report["accepted"], 1, "{report}");
    let form: Value = serde_json::from_str(&std::fs::read_to_string(olena()).unwrap()).unwrap();
    let mut latin = form.clone();
    latin["child"]["given_names"] = "Olena".into();
    latin["child"]["family_name"] = "Kovalenko".into();
    let latin_path = root.path().join("olena-latin.json");
    std::fs::write(&latin_path, latin.to_string()).unwrap();
    let again = capture_form(&second, &latin_path, 1).remove(0);
    let report = sync_json(&second, &registry.url);
    assert_eq!(report["accepted"], 1, "on the ledger, held: {report}");

    // The second device has the registry's hint: capturing the child again says so.
    let out = run(&["capture", "--data", p(&second), "--form", olena()]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "this child may already be registered (Олена Коваленко, {}, captured ",
            olena_dob()
        )) && stderr.contains(&format!("the registry holds record {again} for review")),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());

    // The registrar's queue: one open pair, the later record held, the first its candidate.
    let pairs: Value = serde_json::from_str(&ok(&[
        "registry",
        "duplicates",
        "--data",
        p(&registry.dir),
        "--json",
    ]))
    .unwrap();
    let pairs = pairs.as_array().unwrap();
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    assert_eq!(pairs[0]["record_id"], again.as_str());
    assert_eq!(pairs[0]["candidate_id"], original.as_str());
    assert_eq!(pairs[0]["level"], "likely");
    assert!(pairs[0]["score"].as_i64().unwrap() >= 70, "{pairs:?}");
    let reasons: Vec<&str> = pairs[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        reasons.contains(&"same mother and date of birth"),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"child's name Olena Kovalenko/Олена Коваленко"),
        "{reasons:?}"
    );
    let text = ok(&["registry", "duplicates", "--data", p(&registry.dir)]);
    assert!(
        text.contains(&format!("record {again} (held) may be record {original}")),
        "{text}"
    );

    // No name is stored in the registry's SQLite file in plaintext (keys are keyed hashes).
    if backend == Backend::Sqlite {
        let db = std::fs::read(registry.dir.join("registry.db")).unwrap();
        for word in plaintext()
            .iter()
            .chain(["Olena", "Kovalenko", "kvln"].iter())
        {
            assert!(!contains(&db, word.as_bytes()), "{word} in the database");
        }
    }

    // Deciding closes the pair; a pair that is not open is refused plainly.
    let decided: Value = serde_json::from_str(&ok(&[
        "registry",
        "duplicates",
        "decide",
        "--data",
        p(&registry.dir),
        &again,
        &original,
        "--duplicate",
        "--json",
    ]))
    .unwrap();
    assert_eq!(decided["decision"], "duplicate", "{decided}");
    assert_eq!(decided["still_held"], false, "{decided}");
    let empty = ok(&[
        "registry",
        "duplicates",
        "--data",
        p(&registry.dir),
        "--json",
    ]);
    assert_eq!(
        serde_json::from_str::<Value>(&empty).unwrap(),
        serde_json::json!([])
    );
    let err = fails(&[
        "registry",
        "duplicates",
        "decide",
        "--data",
        p(&registry.dir),
        &again,
        &original,
        "--not-duplicate",
    ]);
    assert!(err.contains("no open duplicate pair"), "{err}");
}

#[test]
fn capture_warns_of_the_same_child_on_the_device_and_lists_it_in_json() {
    let root = tempfile::tempdir().unwrap();
    let device = root.path().join("device");
    ok(&["device", "init", "--data", p(&device), "--worker", "w-dup"]);
    let first = capture(&device, 1).remove(0);
    let out = run(&["capture", "--data", p(&device), "--form", olena()]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "this child may already have been captured (Олена Коваленко, {}, captured just now)",
            olena_dob()
        )),
        "{stderr}"
    );
    assert!(stderr.contains(&first), "{stderr}");
    let json: Value = serde_json::from_str(&ok(&[
        "capture",
        "--data",
        p(&device),
        "--form",
        olena(),
        "--json",
    ]))
    .unwrap();
    let found = json["possible_duplicates"].as_array().unwrap();
    assert_eq!(found.len(), 2, "{json}");
    assert_eq!(found[0]["level"], "likely");
    assert!(found.iter().any(|d| d["id"] == first.as_str()), "{json}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("this child may already")
    );
}
