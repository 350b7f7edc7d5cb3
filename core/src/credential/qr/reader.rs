//! Reading a credential's QR code from a PNG or JPEG, within fixed limits of memory and work.
//!
//! An image from an untrusted source is refused before its pixels are decoded when its header
//! claims too many pixels; a large photo is scaled down before the search; and the QR detector
//! (`rqrr`) runs on an image type that counts every pixel it reads or writes and every copy it
//! makes, and stops the search when the work budget or the number of finder-like patterns is
//! exceeded. A panic inside the detector is taken as "no readable code".
//!
//! Both the stop and the catching of the detector's panics unwind the stack: they need the
//! default `panic = "unwind"` (every profile of this workspace has it). Built with
//! `panic = "abort"`, an image that exhausts the budget or panics the detector would end the
//! process instead of giving an error.

use std::{
    cell::Cell,
    io::Cursor,
    panic::{self, AssertUnwindSafe},
    sync::Once,
};

use image::{
    DynamicImage, GenericImage, GenericImageView, GrayImage, ImageDecoder, ImageReader, Limits,
    Luma, Pixel, imageops,
};

/// Largest image file accepted for scanning, in bytes.
pub const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;
/// Largest image accepted for scanning, in pixels per side.
pub const MAX_IMAGE_SIDE: u32 = 8000;
/// Largest image accepted for scanning, in pixels in all (20 megapixels: a 5 472 x 3 648 photo).
pub const MAX_IMAGE_PIXELS: u64 = 20_000_000;
/// Most memory the PNG or JPEG decoder may allocate.
pub const MAX_DECODE_ALLOC: u64 = 256 * 1024 * 1024;
/// Larger images are scaled down to this many pixels on their longer side before the search.
pub const MAX_SEARCH_SIDE: u32 = 1280;
/// An image with less difference than this between its darkest and lightest pixel is blank.
const MIN_CONTRAST: u8 = 16;
/// Most finder-like patterns (the three squares in a QR code's corners) one attempt may meet.
pub const MAX_FINDER_PATTERNS: u32 = 24;
/// Most pixel reads, writes and copies the QR detector may make for one image, in all its
/// attempts.
pub const WORK_BUDGET: u64 = 60_000_000;

/// Why no credential text could be read from an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrImageError {
    /// The file is larger than [`MAX_IMAGE_BYTES`].
    #[error("the image file is too large: more than {max} bytes")]
    FileTooLarge {
        /// Size of the file (or of the part read, when the caller stopped reading past `max`).
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The image header claims more than [`MAX_IMAGE_SIDE`] or [`MAX_IMAGE_PIXELS`].
    #[error(
        "the image is too large: {width} x {height} pixels, at most {max_side} pixels a side \
         and {max_pixels} pixels in all"
    )]
    TooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// [`MAX_IMAGE_SIDE`].
        max_side: u32,
        /// [`MAX_IMAGE_PIXELS`].
        max_pixels: u64,
    },
    /// Not a PNG or JPEG, or a damaged one.
    #[error("not a readable PNG or JPEG image: {0}")]
    Unreadable(String),
    /// No QR code could be found and read.
    #[error("no readable QR code in the image")]
    NoCode,
    /// A QR code was found but its content could not be read.
    #[error("a QR code was found but could not be read: {0}")]
    Damaged(&'static str),
    /// More finder-like patterns than [`MAX_FINDER_PATTERNS`]: a forged image, or not a photo
    /// of a single code.
    #[error(
        "the image has too many shapes that look like the corners of a QR code \
         (at most {max} are searched): no readable QR code"
    )]
    TooManyPatterns {
        /// [`MAX_FINDER_PATTERNS`].
        max: u32,
    },
    /// The search would exceed [`WORK_BUDGET`].
    #[error("the image is too complex to search for a QR code: no readable QR code")]
    TooComplex,
}

/// Reads the credential text from the first QR code found in a PNG or JPEG image.
pub fn read_image(bytes: &[u8]) -> Result<String, QrImageError> {
    read_luma(decode(bytes)?)
}

/// Decodes a PNG or JPEG into greyscale, refusing it from its header when it is too large.
pub fn decode(bytes: &[u8]) -> Result<GrayImage, QrImageError> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(QrImageError::FileTooLarge {
            bytes: bytes.len(),
            max: MAX_IMAGE_BYTES,
        });
    }
    let unreadable = |e: image::ImageError| QrImageError::Unreadable(plain_image_error(&e));
    let open = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|_| QrImageError::Unreadable("the file could not be read".into()))
    };
    let mut header = open()?;
    if header.format().is_none() {
        return Err(QrImageError::Unreadable(
            "the file is neither a PNG nor a JPEG image".into(),
        ));
    }
    // The header alone, without limits, so that the error can say the size; the decoder's
    // limits are a second line.
    header.no_limits();
    let (width, height) = header.into_dimensions().map_err(unreadable)?;
    if width > MAX_IMAGE_SIDE
        || height > MAX_IMAGE_SIDE
        || u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS
    {
        return Err(QrImageError::TooLarge {
            width,
            height,
            max_side: MAX_IMAGE_SIDE,
            max_pixels: MAX_IMAGE_PIXELS,
        });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = open()?;
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(unreadable)?;
    if decoder.dimensions() != (width, height) {
        return Err(QrImageError::Unreadable(
            "the image header is inconsistent".into(),
        ));
    }
    let image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    Ok(image.into_luma8())
}

/// Why the image decoder refused a file, in plain words: its own messages name Rust types and
/// PNG chunk structures ("CorruptFlateStream", "FormatStatic(...)"), which mean nothing to the
/// person holding the photo.
fn plain_image_error(e: &image::ImageError) -> String {
    use image::ImageError as E;
    match e {
        E::Decoding(_) | E::Parameter(_) | E::Encoding(_) => "the file is damaged",
        E::IoError(_) => "the file is cut short or damaged",
        E::Unsupported(_) => "it uses a PNG or JPEG feature this reader does not support",
        E::Limits(_) => "it would need too much memory to decode",
    }
    .into()
}

/// Reads the credential text from a greyscale image. Phone photos are blurred, noisy and a
/// little rotated, and the QR detector is sensitive to the module size and to grey edges, so
/// when the image as taken does not decode, binarised and rescaled versions are tried too, and
/// when none has a code, the same on the negative image, for light-on-dark codes (all within
/// one work budget). An image larger than [`MAX_SEARCH_SIDE`] is scaled down first.
pub fn read_luma(image: GrayImage) -> Result<String, QrImageError> {
    read_luma_within(image, WORK_BUDGET)
}

fn read_luma_within(image: GrayImage, work: u64) -> Result<String, QrImageError> {
    search(image, &Budget::new(work))
}

fn search(image: GrayImage, budget: &Budget) -> Result<String, QrImageError> {
    let image = fit(image, MAX_SEARCH_SIDE);
    if contrast(&image) < MIN_CONTRAST {
        return Err(QrImageError::NoCode);
    }
    // A code found but unreadable says more than no code found at all.
    let mut damaged = None;
    match search_one_way(&image, budget, &mut damaged) {
        Ok(text) => return Ok(text),
        // Out of budget, or too many patterns: the inverted image would meet them too.
        Err(e @ (QrImageError::TooComplex | QrImageError::TooManyPatterns { .. })) => {
            return Err(e);
        }
        Err(_) => {}
    }
    // Light on dark (a phone screen in dark mode, a negative photocopy): the detector looks for
    // dark finder patterns, so the same attempts again on the negative, within the same budget.
    search_one_way(&inverted(&image, budget)?, budget, &mut damaged)
}

/// The attempts on one polarity of the image; a damaged code met is kept in `damaged`.
fn search_one_way(
    image: &GrayImage,
    budget: &Budget,
    damaged: &mut Option<QrImageError>,
) -> Result<String, QrImageError> {
    // The image as it is, then what rescued the photos in the tests: the image binarised at
    // its mean, and binarised after upscaling by 1.5 (small modules, grey edges; at most 1920
    // pixels a side after `fit`); and a half-size copy, which averages out noise in codes with
    // large modules.
    let (w, h) = image.dimensions();
    for attempt in [
        Attempt::AsIs,
        Attempt::Binarised,
        Attempt::BinarisedUpscaled,
        Attempt::HalfSize,
    ] {
        let candidate = match attempt {
            Attempt::AsIs => None,
            Attempt::Binarised => {
                let binary = binarise(image);
                if binary == *image {
                    continue; // already black and white: tried as it is
                }
                Some(binary)
            }
            Attempt::BinarisedUpscaled => Some(binarise(&scaled(image, 1.5))),
            Attempt::HalfSize if w.min(h) / 2 >= 21 => Some(scaled(image, 0.5)),
            Attempt::HalfSize => continue,
        };
        match detect(candidate.as_ref().unwrap_or(image), budget) {
            Ok(text) => return Ok(text),
            Err(e @ QrImageError::Damaged(_)) => *damaged = Some(e),
            Err(QrImageError::NoCode) => {}
            // Out of budget, or too many patterns: the other attempts would meet them too.
            Err(e) => return Err(e),
        }
    }
    Err(damaged.clone().unwrap_or(QrImageError::NoCode))
}

/// The negative of the image (charged to the budget like a copy).
fn inverted(image: &GrayImage, budget: &Budget) -> Result<GrayImage, QrImageError> {
    budget.charge(u64::from(image.width()) * u64::from(image.height()))?;
    let mut out = image.clone();
    imageops::invert(&mut out);
    Ok(out)
}

/// The versions of the image the detector is given, in this order.
#[derive(Clone, Copy)]
enum Attempt {
    AsIs,
    Binarised,
    BinarisedUpscaled,
    HalfSize,
}

/// The image scaled down (area averaging) to at most `side` pixels on its longer side.
fn fit(image: GrayImage, side: u32) -> GrayImage {
    let (w, h) = image.dimensions();
    if w.max(h) <= side {
        return image;
    }
    let (nw, nh) = if w >= h {
        (
            side,
            (u64::from(h) * u64::from(side) / u64::from(w)).max(1) as u32,
        )
    } else {
        (
            (u64::from(w) * u64::from(side) / u64::from(h)).max(1) as u32,
            side,
        )
    };
    imageops::thumbnail(&image, nw, nh)
}

fn scaled(image: &GrayImage, factor: f64) -> GrayImage {
    let (w, h) = image.dimensions();
    let (nw, nh) = ((w as f64 * factor) as u32, (h as f64 * factor) as u32);
    imageops::resize(image, nw, nh, imageops::FilterType::Triangle)
}

/// The difference between the darkest and the lightest pixel.
fn contrast(image: &GrayImage) -> u8 {
    let (min, max) = image.pixels().fold((u8::MAX, u8::MIN), |(min, max), p| {
        (min.min(p[0]), max.max(p[0]))
    });
    max.saturating_sub(min)
}

/// Black and white at the mean brightness.
fn binarise(image: &GrayImage) -> GrayImage {
    let pixels = u64::from(image.width()) * u64::from(image.height());
    let sum: u64 = image.pixels().map(|p| u64::from(p[0])).sum();
    let mean = sum.checked_div(pixels).unwrap_or(128) as u8;
    let mut out = image.clone();
    for p in out.pixels_mut() {
        p[0] = if p[0] < mean { 0 } else { 255 };
    }
    out
}

/// What is left for one image, shared by all its attempts and the detector's copies.
struct Budget {
    work: Cell<u64>,
    patterns: Cell<u32>,
}

/// Why the detector was stopped (the payload of the unwind, never shown to the user).
enum Stop {
    Work,
    Patterns,
}

impl Budget {
    fn new(work: u64) -> Self {
        Budget {
            work: Cell::new(work),
            patterns: Cell::new(0),
        }
    }

    #[inline(always)]
    fn spend(&self, units: u64) {
        let left = self.work.get();
        if left < units {
            self.exhausted();
        }
        self.work.set(left - units);
    }

    /// [`Budget::spend`] outside the detector, where nothing catches the unwind: an error
    /// instead.
    fn charge(&self, units: u64) -> Result<(), QrImageError> {
        let left = self.work.get();
        if left < units {
            self.work.set(0);
            return Err(QrImageError::TooComplex);
        }
        self.work.set(left - units);
        Ok(())
    }

    #[cold]
    fn exhausted(&self) -> ! {
        self.work.set(0);
        // `resume_unwind` does not run the panic hook: nothing is printed.
        panic::resume_unwind(Box::new(Stop::Work))
    }

    fn pattern(&self) {
        let n = self.patterns.get() + 1;
        self.patterns.set(n);
        if n > MAX_FINDER_PATTERNS {
            panic::resume_unwind(Box::new(Stop::Patterns));
        }
    }
}

/// A greyscale image for the detector that charges the budget for every pixel read and written
/// and for every copy, and counts the finder patterns the detector claims.
struct Metered<'a> {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
    budget: &'a Budget,
    last_write: u8,
}

/// The value `rqrr` paints a confirmed finder pattern with (its `PixelColor::CapStone`); each
/// pattern is painted in one flood fill, after a fill with another value.
const PAINTED_FINDER: u8 = 2;

impl Clone for Metered<'_> {
    fn clone(&self) -> Self {
        self.budget.spend(self.pixels.len() as u64);
        Metered {
            width: self.width,
            height: self.height,
            pixels: self.pixels.clone(),
            budget: self.budget,
            last_write: self.last_write,
        }
    }
}

impl Metered<'_> {
    #[inline(always)]
    fn index(&self, x: u32, y: u32) -> usize {
        y as usize * self.width as usize + x as usize
    }
}

impl GenericImageView for Metered<'_> {
    type Pixel = Luma<u8>;

    fn dimensions(&self) -> (u32, u32) {
        // Charged too: the detector's spiral search for an alignment pattern can step far
        // outside the image, reading no pixel but asking the size at every step.
        self.budget.spend(1);
        (self.width, self.height)
    }

    fn get_pixel(&self, x: u32, y: u32) -> Luma<u8> {
        self.budget.spend(1);
        Luma([self.pixels[self.index(x, y)]])
    }
}

impl GenericImage for Metered<'_> {
    fn get_pixel_mut(&mut self, x: u32, y: u32) -> &mut Luma<u8> {
        self.budget.spend(1);
        let i = self.index(x, y);
        Luma::from_slice_mut(&mut self.pixels[i..=i])
    }

    fn put_pixel(&mut self, x: u32, y: u32, pixel: Luma<u8>) {
        self.budget.spend(1);
        let value = pixel.0[0];
        if value == PAINTED_FINDER && self.last_write != PAINTED_FINDER {
            self.budget.pattern();
        }
        self.last_write = value;
        let i = self.index(x, y);
        self.pixels[i] = value;
    }

    fn blend_pixel(&mut self, x: u32, y: u32, pixel: Luma<u8>) {
        let mut current = self.get_pixel(x, y);
        current.blend(&pixel);
        self.put_pixel(x, y, current);
    }
}

fn detect(image: &GrayImage, budget: &Budget) -> Result<String, QrImageError> {
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return Err(QrImageError::NoCode);
    }
    // The copy into the metered image is charged like the detector's own copies; the finder
    // patterns are counted afresh in each attempt (each may see the same few real ones).
    budget.charge(u64::from(width) * u64::from(height))?;
    budget.patterns.set(0);
    let metered = Metered {
        width,
        height,
        pixels: image.as_raw().clone(),
        budget,
        last_write: 0,
    };
    let outcome = quietly(|| {
        let mut prepared = rqrr::PreparedImage::prepare(metered);
        let mut result = Err(QrImageError::NoCode);
        for grid in prepared.detect_grids() {
            match grid.decode() {
                Ok((_, content)) => return Ok(content),
                Err(e) => result = Err(QrImageError::Damaged(plain(e))),
            }
        }
        result
    });
    match outcome {
        Ok(result) => result,
        Err(payload) => Err(match payload.downcast_ref::<Stop>() {
            Some(Stop::Work) => QrImageError::TooComplex,
            Some(Stop::Patterns) => QrImageError::TooManyPatterns {
                max: MAX_FINDER_PATTERNS,
            },
            // A panic inside the detector on a crafted image: nothing readable there.
            None => QrImageError::NoCode,
        }),
    }
}

/// The decoder's error in plain words.
fn plain(e: rqrr::DeQRError) -> &'static str {
    use rqrr::DeQRError::*;
    match e {
        DataEcc | FormatEcc => "too damaged or blurred to correct",
        InvalidVersion | InvalidGridSize => "its size could not be worked out",
        DataUnderflow | DataOverflow | UnknownDataType => "its content is malformed",
        EncodingError => "its content is not text",
        IoError => "its content could not be collected",
    }
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}
static QUIET_HOOK: Once = Once::new();

/// Runs `f`, catching a panic; while it runs, a panic on this thread prints nothing (the
/// process-wide hook is wrapped once, and still reports panics elsewhere as before).
fn quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    outcome
}

#[cfg(test)]
mod tests;
