#![no_main]
//! Reading a credential's QR code from an image: PNG and JPEG headers and pixels (the size and
//! allocation limits), and the QR detector on raw greyscale pixels (its work budget, its limit
//! on finder patterns, its panics caught). Any input must end in a typed error or text, quickly
//! and in little memory: run with `-timeout=5 -rss_limit_mb=600`.
use birthright_core::credential::qr::{read_image, read_luma};
use image::GrayImage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_image(data);
    // The first byte picks a width (1-256); the rest are the pixels, row after row, so the
    // fuzzer reaches the detector without going through PNG compression.
    if let Some((&w, pixels)) = data.split_first() {
        let width = u32::from(w) + 1;
        let height = pixels.len() as u32 / width;
        if height > 0 {
            let pixels = pixels[..(width * height) as usize].to_vec();
            if let Some(image) = GrayImage::from_raw(width, height, pixels) {
                let _ = read_luma(image);
            }
        }
    }
});
