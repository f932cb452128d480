//! QR codes of tickets as SVG and PNG (feature `qr`, off by default:
//! scanners and stores do not need it).
//!
//! Codes use error-correction level M (15 % of the code may be damaged or
//! covered) and a quiet zone of 4 modules. PNG images are written with the
//! small `png` crate, one bit per pixel, rather than through `qrcode`'s
//! `image` feature, which would bring the whole `image` crate.

use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};
use thiserror::Error;

/// The quiet zone around a code, in modules.
const QUIET: usize = 4;
/// The largest PNG module size, in pixels.
const MAX_SCALE: u32 = 64;

/// Why a QR code cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum QrError {
    /// The text does not fit a QR code at level M.
    #[error("the text does not fit a QR code: {0}")]
    TooLong(String),
    /// A module size of 0 or more than 64 pixels.
    #[error("module size {0} px: 1 to 64")]
    Scale(u32),
    /// The PNG encoder failed.
    #[error("png: {0}")]
    Png(String),
}

fn code(text: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| QrError::TooLong(e.to_string()))
}

/// The QR code of `text` as an SVG document, at least `min_px` pixels wide.
pub fn svg(text: &str, min_px: u32) -> Result<String, QrError> {
    Ok(code(text)?.render::<svg::Color<'_>>().quiet_zone(true).min_dimensions(min_px, min_px).build())
}

/// The dark modules of `text`'s QR code, row by row, without the quiet
/// zone: `width * width` booleans.
pub fn modules(text: &str) -> Result<(usize, Vec<bool>), QrError> {
    let c = code(text)?;
    Ok((c.width(), c.to_colors().into_iter().map(|m| m == Color::Dark).collect()))
}

/// The QR code of `text` as a PNG image (1-bit grayscale), `scale` pixels
/// per module, with the quiet zone.
pub fn png(text: &str, scale: u32) -> Result<Vec<u8>, QrError> {
    if scale == 0 || scale > MAX_SCALE {
        return Err(QrError::Scale(scale));
    }
    let (width, dark) = modules(text)?;
    let scale = scale as usize;
    let side = (width + 2 * QUIET) * scale;
    let row_bytes = side.div_ceil(8);
    let mut pixels = vec![0xffu8; row_bytes * side];
    for y in 0..side {
        for x in 0..side {
            let (mx, my) = (x / scale, y / scale);
            let inside = (QUIET..QUIET + width).contains(&mx) && (QUIET..QUIET + width).contains(&my);
            if inside && dark[(my - QUIET) * width + (mx - QUIET)] {
                pixels[y * row_bytes + x / 8] &= !(0x80 >> (x % 8));
            }
        }
    }
    let side = u32::try_from(side).map_err(|_| QrError::Scale(scale as u32))?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let png_err = |e: png::EncodingError| QrError::Png(e.to_string());
    let mut writer = encoder.write_header().map_err(png_err)?;
    writer.write_image_data(&pixels).map_err(png_err)?;
    writer.finish().map_err(png_err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_and_png_of_a_ticket_sized_text() {
        let text = "A".repeat(202);
        let doc = svg(&text, 256).expect("svg");
        assert!(doc.starts_with("<?xml") && doc.contains("<svg") && doc.contains("<path"));
        let (width, dark) = modules(&text).expect("modules");
        assert_eq!(dark.len(), width * width);
        assert!(width <= 57, "version 10 or lower: {width} modules");
        let image = png(&text, 4).expect("png");
        assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
        let side = ((width + 8) * 4) as u32;
        assert_eq!(&image[16..24], &[side.to_be_bytes(), side.to_be_bytes()].concat()[..]);
        assert_eq!(png(&text, 0), Err(QrError::Scale(0)));
        assert_eq!(png(&text, 65), Err(QrError::Scale(65)));
        assert!(matches!(svg(&"x".repeat(5000), 100), Err(QrError::TooLong(_))));
    }
}
