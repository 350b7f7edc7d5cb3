#![no_main]
//! A prepared profile as the registry keeps it in a candidate form (docs/MATCHING.md §7),
//! decoded as the registry decodes its own sealed forms (`codec::from_own_sealed_slice`:
//! no one-valid-encoding check). Its name parts are free strings once decoded (skeletons
//! joined by `|`, words followed by a space), so any string must compare without panic.
//! Properties: no panic; scoring it against the reference record is symmetric in points and
//! level; its block keys are sorted and bounded; it never rules itself out.
use birthright_core::{
    codec,
    fixtures::reference_input,
    matching::{Prepared, block_keys, blocking::MAX_KEYS, rules_out_prepared, score},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(form) = codec::from_own_sealed_slice::<Prepared>(data, 64 * 1024) else {
        return;
    };
    let reference = Prepared::from_form(&reference_input());
    let (x, y) = (score(&form, &reference), score(&reference, &form));
    assert_eq!((x.points, x.level), (y.points, y.level));
    let keys = block_keys(&form);
    assert!(keys.len() <= MAX_KEYS);
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    assert!(!rules_out_prepared(&form, &form));
});
