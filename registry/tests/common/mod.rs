//! Helpers shared by the registry's integration tests: a registry in a directory, and devices
//! enrolled with it in process.
#![allow(dead_code)] // each test crate uses its own subset

use std::{path::Path, sync::Arc};

use birthright_core::{
    device::Device,
    store::StorageKey,
    sync::{SyncCounts, SyncProgress},
};
use birthright_registry::Registry;

/// Ignores progress.
pub(crate) struct NoProgress;
impl SyncProgress for NoProgress {
    fn on_progress(&self, _: &SyncCounts) {}
}

/// A new registry in `dir`.
pub(crate) fn registry(dir: &Path) -> Arc<Registry> {
    Arc::new(Registry::init(dir, "registry.test/births").unwrap().0)
}

/// A new in-memory device for `worker`, enrolled with `registry`.
pub(crate) fn enrolled_device(registry: &Registry, worker: &str) -> Device {
    let device = Device::open_in_memory(StorageKey::generate().unwrap()).unwrap();
    device.init(worker).unwrap();
    enrol(registry, &device, worker);
    device
}

/// Enrols an initialised `device` for `worker` with a fresh token.
pub(crate) fn enrol(registry: &Registry, device: &Device, worker: &str) {
    let token = registry.create_token(worker, "UA-46", 3600).unwrap();
    let answer = registry.enrol(&request(registry, device, &token)).unwrap();
    device
        .complete_enrolment(&answer, registry.trust_bundle())
        .unwrap();
}

/// The enrolment request `device` makes to `registry` with `token`.
pub(crate) fn request(registry: &Registry, device: &Device, token: &str) -> Vec<u8> {
    device
        .enrolment_request(token, &registry.trust_bundle().origin)
        .unwrap()
}
