#![no_main]
//! The registry's enrolment answer, on a fresh device. First byte 0: the rest is the CBOR
//! answer as sent; 1: the rest is the certificate's payload, which the harness signs with the
//! registry key and puts in an answer with the valid trust bundle. In both, the 32 bytes
//! `PLACEHOLDER_DEVICE_KEY` are replaced by the device's (random) public key first. An
//! enrolment that completes must leave a device whose enrolment checks out.
use birthright_core::{codec, device::Device, store::StorageKey, wire::EnrolResponse};
use birthright_fuzz as h;
use libfuzzer_sys::fuzz_target;
use serde_bytes::ByteBuf;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(device) = Device::open_in_memory(StorageKey::from_bytes([4; 32])) else {
        return;
    };
    let Ok(identity) = device.init("worker-7") else {
        return;
    };
    let mut rest = rest.to_vec();
    h::substitute(&mut rest, &h::PLACEHOLDER_DEVICE_KEY, &identity.public_key);
    let answer = if mode % 2 == 0 {
        rest
    } else {
        let answer = EnrolResponse {
            certificate: ByteBuf::from(h::sign_certificate_payload(&rest)),
            trust_bundle: h::trust().to_json(),
        };
        let Ok(bytes) = codec::to_vec(&answer) else {
            return;
        };
        bytes
    };
    let trust = h::trust();
    if device.complete_enrolment(&answer, &trust).is_ok() {
        assert!(
            device.check_enrolment().is_ok(),
            "a completed enrolment checks out"
        );
        assert_eq!(device.trust_bundle().ok().flatten(), Some(trust));
        assert!(device.certificate().ok().flatten().is_some());
    }
});
