//! Strict decoding of every packed structure (docs/PROTOCOL.md §1, "One valid encoding"):
//! integer keys only, each once, in ascending order, no unknown keys, shortest integer, length
//! and float forms, definite lengths, optional fields absent rather than `null` where the table
//! says "omitted if absent". Built on the known-answer vectors of docs/vectors/formats.json: the
//! vector itself is accepted, and every variant below, which the lenient decoder took, is refused.

use std::fmt::Debug;

use birthright_core::{
    codec::{self, CodecError},
    record::Record,
    sync::Receipt,
    trust::DeviceCertificate,
    wire::{Batch, BatchResponse, EnrolRequest, EnrolResponse, RecordResult, SealedBatch},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value as Json;

const LIMIT: usize = 1 << 20;

fn vector(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/formats.json");
    let file: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let entry = file["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"));
    hex::decode(entry["hex"].as_str().unwrap()).unwrap()
}

/// Length of the head (initial byte and argument) at `at`, and its argument.
fn head(bytes: &[u8], at: usize) -> (usize, u64) {
    let info = bytes[at] & 0x1f;
    match info {
        0..=23 => (1, u64::from(info)),
        24 => (2, u64::from(bytes[at + 1])),
        25 => (
            3,
            u64::from(u16::from_be_bytes([bytes[at + 1], bytes[at + 2]])),
        ),
        26 => (
            5,
            u64::from(u32::from_be_bytes(
                bytes[at + 1..at + 5].try_into().unwrap(),
            )),
        ),
        27 => (
            9,
            u64::from_be_bytes(bytes[at + 1..at + 9].try_into().unwrap()),
        ),
        _ => panic!("indefinite or reserved head in a vector"),
    }
}

/// Offset just past the (definite-length) item starting at `at`.
fn item_end(bytes: &[u8], at: usize) -> usize {
    let (len, arg) = head(bytes, at);
    let body = at + len;
    match bytes[at] >> 5 {
        0 | 1 | 7 => body,
        2 | 3 => body + arg as usize,
        4 => (0..arg).fold(body, |p, _| item_end(bytes, p)),
        5 => (0..arg * 2).fold(body, |p, _| item_end(bytes, p)),
        6 => item_end(bytes, body),
        _ => unreachable!(),
    }
}

/// A map's entries: (key bytes, value bytes) in order.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The top-level map's entries, and its head length.
fn entries(bytes: &[u8]) -> (usize, Entries) {
    assert_eq!(bytes[0] >> 5, 5, "a packed struct is a map");
    let (len, n) = head(bytes, 0);
    let mut at = len;
    let mut out = Vec::new();
    for _ in 0..n {
        let k = item_end(bytes, at);
        let v = item_end(bytes, k);
        out.push((bytes[at..k].to_vec(), bytes[k..v].to_vec()));
        at = v;
    }
    assert_eq!(at, bytes.len());
    (len, out)
}

fn map(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    assert!(entries.len() < 24);
    let mut out = vec![0xa0 | entries.len() as u8];
    for (k, v) in entries {
        out.extend_from_slice(k);
        out.extend_from_slice(v);
    }
    out
}

fn refused<T: DeserializeOwned + Serialize + Debug>(what: &str, bytes: &[u8]) {
    match codec::from_slice::<T>(bytes, LIMIT) {
        Ok(value) => panic!("{what}: accepted {value:?}"),
        Err(e) => {
            assert!(matches!(e, CodecError::Malformed(_)), "{what}: {e}");
        }
    }
}

/// The vector is accepted, and every non-canonical variant of its top-level map refused.
fn strict<T: DeserializeOwned + Serialize + Debug + PartialEq>(name: &str) {
    let bytes = vector(name);
    let value: T = codec::from_slice(&bytes, LIMIT).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(codec::to_vec(&value).unwrap(), bytes, "{name} re-encodes");
    let (_, list) = entries(&bytes);
    let what = |case: &str| format!("{name}, {case}");

    // Field names as text keys (serde_cbor's non-packed form).
    refused::<T>(&what("text keys"), &serde_cbor::to_vec(&value).unwrap());
    // The same map as an array (serde accepts a struct as a sequence).
    let mut array = vec![0x80 | list.len() as u8];
    for (_, v) in &list {
        array.extend_from_slice(v);
    }
    refused::<T>(&what("an array"), &array);
    // An unknown key, at the end (keys stay in ascending order).
    let mut unknown = list.clone();
    unknown.push((vec![0x18, 0x63], vec![0xf6]));
    refused::<T>(&what("unknown key 99"), &map(&unknown));
    // A repeated key: the first entry again at the end.
    let mut repeated = list.clone();
    repeated.push(list[0].clone());
    refused::<T>(&what("repeated key"), &map(&repeated));
    // Keys out of order.
    let mut swapped = list.clone();
    swapped.swap(0, 1);
    refused::<T>(&what("keys out of order"), &map(&swapped));
    // Key 0 in a longer form than it needs.
    let mut long_key = list.clone();
    long_key[0].0 = vec![0x18, 0x00];
    refused::<T>(&what("key 0 as 18 00"), &map(&long_key));
    // The map's length in a longer form.
    let mut long_len = vec![0xb8, list.len() as u8];
    long_len.extend_from_slice(&map(&list)[1..]);
    refused::<T>(&what("map length as b8 n"), &long_len);
    // An indefinite-length map.
    let mut indefinite = vec![0xbf];
    indefinite.extend_from_slice(&map(&list)[1..]);
    indefinite.push(0xff);
    refused::<T>(&what("indefinite-length map"), &indefinite);
}

#[test]
fn every_packed_structure_is_decoded_strictly() {
    strict::<Record>("record");
    strict::<Record>("record_correction");
    strict::<DeviceCertificate>("device_certificate_payload");
    strict::<EnrolRequest>("enrol_request");
    strict::<EnrolResponse>("enrol_response");
    strict::<Batch>("batch");
    strict::<SealedBatch>("sealed_batch_envelope");
    strict::<BatchResponse>("batch_response");
    strict::<RecordResult>("record_result_duplicate");
    strict::<Receipt>("receipt");
}

/// Replaces the value of top-level key `key` (a small uint) of `bytes`.
fn with_value(bytes: &[u8], key: u8, value: &[u8]) -> Vec<u8> {
    let (_, mut list) = entries(bytes);
    let entry = list
        .iter_mut()
        .find(|(k, _)| k == &[key])
        .expect("key present");
    entry.1 = value.to_vec();
    map(&list)
}

#[test]
fn nested_values_must_be_canonical_too() {
    let record = vector("record_correction");
    let (_, top) = entries(&record);
    let captured_at = &top[2].1;
    assert_eq!(captured_at[0], 0x1a, "captured_at is a 4-byte uint");
    // A value (not a key) in a longer form than it needs: captured_at as 8 bytes.
    let mut long = vec![0x1b, 0, 0, 0, 0];
    long.extend_from_slice(&captured_at[1..]);
    refused::<Record>("captured_at as 1b", &with_value(&record, 2, &long));
    // The schema version as a text string, or as 18 01.
    refused::<Record>(
        "schema_version 18 01",
        &with_value(&record, 0, &[0x18, 0x01]),
    );

    // The enrolment (key 6) holds the custom fields (key 8): {"camp": "B", "village_code": ...}.
    let enrolment = top[top.len() - 1].1.clone();
    let (_, inner) = entries(&enrolment);
    let custom = inner.iter().find(|(k, _)| k == &[0x08]).unwrap().1.clone();
    let (_, fields) = entries(&custom);
    assert_eq!(fields.len(), 2);
    let with_custom = |custom: Vec<u8>| {
        let mut inner = inner.clone();
        inner.iter_mut().find(|(k, _)| k == &[0x08]).unwrap().1 = custom;
        with_value(&record, 6, &map(&inner))
    };
    // The committed form is accepted through the same path.
    assert!(codec::from_slice::<Record>(&with_custom(custom.clone()), LIMIT).is_ok());
    // Custom keys out of order, or one repeated (a decoder would keep only one of the two).
    let mut swapped = fields.clone();
    swapped.swap(0, 1);
    refused::<Record>("custom keys out of order", &with_custom(map(&swapped)));
    let mut repeated = fields.clone();
    repeated.insert(1, (fields[0].0.clone(), vec![0x61, b'C']));
    refused::<Record>("custom key repeated", &with_custom(map(&repeated)));
    // An empty custom map, which the encoder leaves out.
    refused::<Record>("empty custom map", &with_custom(vec![0xa0]));
    // A text string in indefinite-length chunks.
    let mut chunked = fields.clone();
    chunked[0].1 = vec![0x7f, 0x61, b'B', 0xff];
    refused::<Record>("indefinite-length text", &with_custom(map(&chunked)));

    // `supersedes: null` where the encoder leaves the key out (the reference record has none).
    let plain = vector("record");
    let (_, mut list) = entries(&plain);
    list.insert(5, (vec![0x05], vec![0xf6]));
    refused::<Record>("supersedes null", &map(&list));
}

#[test]
fn floats_must_take_their_shortest_exact_width() {
    // The reference record's latitude 49.8 needs a double; 49.5 fits a half.
    let record = vector("record");
    let (_, top) = entries(&record);
    let (_, enrolment) = entries(&top[top.len() - 1].1);
    let (_, place) = entries(&enrolment[1].1);
    let latitude = place.iter().position(|(k, _)| k == &[0x04]).unwrap();
    assert_eq!(place[latitude].1[0], 0xfb, "latitude is a double");
    let with_latitude = |value: &[u8]| {
        let mut place = place.clone();
        place.iter_mut().find(|(k, _)| k == &[0x04]).unwrap().1 = value.to_vec();
        let mut enrolment = enrolment.clone();
        enrolment[1].1 = map(&place);
        with_value(&record, 6, &map(&enrolment))
    };
    let half = with_latitude(&[0xf9, 0x52, 0x30]);
    let decoded: Record = codec::from_slice(&half, LIMIT).unwrap();
    assert_eq!(decoded.enrolment.place_of_birth.latitude, Some(49.5));
    refused::<Record>("49.5 as single", &with_latitude(&[0xfa, 0x42, 0x46, 0, 0]));
    refused::<Record>(
        "49.5 as double",
        &with_latitude(&[0xfb, 0x40, 0x48, 0xc0, 0, 0, 0, 0, 0]),
    );
}

#[test]
fn the_refusal_says_what_and_where_without_values() {
    let record = vector("record");
    let (_, mut list) = entries(&record);
    list[0].0 = vec![0x18, 0x00];
    let err = codec::from_slice::<Record>(&map(&list), LIMIT).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("one valid encoding"), "{text}");
    assert!(text.contains("byte 1"), "{text}");
    assert!(!text.contains("Олена"), "{text}");
}
