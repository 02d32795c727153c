//! Byte sizes as people write them (`8GiB`, `8 GB`, `7.5G`, `600MiB`, `1234B`): the one parser for
//! every flag and manifest field that takes a size — plan's `--vram` and `--margin`, convert's
//! `--vram`, validate's `--max-memory`, a batch manifest's `[plan] vram`.
//!
//! Binary and decimal units are honoured (`GiB` = 2^30, `GB` = 10^9); a bare `K`/`M`/`G`/`T` is
//! binary, as llama.cpp and Ollama print sizes. A number without a unit is refused: `--vram 8` is
//! not 8 bytes, and guessing GiB would hide the typo.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// A size as written and the bytes it means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Size {
    /// Bytes.
    pub bytes: u64,
    /// The text it was parsed from (trimmed), for messages and reports.
    pub text: String,
}

/// The GPU memory kept free for the runtime when none is given: CUDA context and cuBLAS
/// workspaces, 597 MiB measured with llama.cpp on an H200 (CUDA 13).
pub const DEFAULT_MARGIN: &str = "600MiB";

/// Why a text is not a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// No number in front.
    #[error("size {text:?}: expected a number and a unit, e.g. 8GiB")]
    NotANumber {
        /// The text.
        text: String,
    },
    /// A number alone.
    #[error("size {text:?} has no unit: {number} what? Use {number}GiB (or {number}GB, {number}MiB; {number}B for bytes)")]
    NoUnit {
        /// The text.
        text: String,
        /// Its number.
        number: String,
    },
    /// A unit we do not know.
    #[error("size {text:?}: unknown unit {unit:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)")]
    UnknownUnit {
        /// The text.
        text: String,
        /// The unit as written.
        unit: String,
    },
    /// Negative, not finite, or more than a u64 holds.
    #[error("size {text:?} is out of range")]
    OutOfRange {
        /// The text.
        text: String,
    },
}

impl Size {
    /// The default `--margin` ([`DEFAULT_MARGIN`]).
    pub fn default_margin() -> Size {
        DEFAULT_MARGIN.parse().expect("DEFAULT_MARGIN is a valid size")
    }
}

impl FromStr for Size {
    type Err = SizeError;

    fn from_str(s: &str) -> Result<Size, SizeError> {
        let text = s.trim();
        let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: f64 = number.parse().map_err(|_| SizeError::NotANumber { text: text.to_owned() })?;
        let unit = unit.trim();
        let mult: f64 = match unit.to_ascii_lowercase().as_str() {
            "" => return Err(SizeError::NoUnit { text: text.to_owned(), number: number.to_owned() }),
            "b" => 1.0,
            "k" | "kib" => 1024.0,
            "kb" => 1e3,
            "m" | "mib" => 1024.0 * 1024.0,
            "mb" => 1e6,
            "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "gb" => 1e9,
            "t" | "tib" => 1024.0f64.powi(4),
            "tb" => 1e12,
            _ => return Err(SizeError::UnknownUnit { text: text.to_owned(), unit: unit.to_owned() }),
        };
        let bytes = value * mult;
        // 1.8e19 < 2^64: a product this side of it converts to u64 without saturating.
        if !(0.0..1.8e19).contains(&bytes) {
            return Err(SizeError::OutOfRange { text: text.to_owned() });
        }
        Ok(Size { bytes: bytes as u64, text: text.to_owned() })
    }
}

impl TryFrom<String> for Size {
    type Error = SizeError;

    fn try_from(s: String) -> Result<Size, SizeError> {
        s.parse()
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> Result<u64, SizeError> {
        s.parse::<Size>().map(|v| v.bytes)
    }

    #[test]
    fn units() {
        assert_eq!(bytes("8GiB"), Ok(8 << 30));
        assert_eq!(bytes("8 GB"), Ok(8_000_000_000));
        assert_eq!(bytes("7.5G"), Ok(15 << 29));
        assert_eq!(bytes("600MiB"), Ok(600 << 20));
        assert_eq!(bytes("512m"), Ok(512 << 20));
        assert_eq!(bytes("1234B"), Ok(1234));
        assert_eq!(bytes(" 2TiB "), Ok(2 << 40));
        assert_eq!(Size::default_margin().bytes, 600 << 20);
    }

    #[test]
    fn refusals_say_what_to_write() {
        assert!(bytes("8").unwrap_err().to_string().contains("8 what? Use 8GiB"));
        assert!(matches!(bytes("8 parsecs"), Err(SizeError::UnknownUnit { .. })));
        assert!(matches!(bytes("GiB"), Err(SizeError::NotANumber { .. })));
        assert!(matches!(bytes("1e30"), Err(SizeError::UnknownUnit { .. })));
        assert!(matches!(bytes("1.2.3G"), Err(SizeError::NotANumber { .. })));
        assert!(matches!(bytes("99999999999TB"), Err(SizeError::OutOfRange { .. })));
    }

    #[test]
    fn deserializes_from_a_string() {
        #[derive(Deserialize)]
        struct T {
            v: Vec<Size>,
        }
        let t: T = toml::from_str(r#"v = ["8GiB", "24 GB"]"#).unwrap();
        assert_eq!(t.v[1], Size { bytes: 24_000_000_000, text: "24 GB".into() });
        let e = toml::from_str::<T>(r#"v = ["8"]"#).err().unwrap().to_string();
        assert!(e.contains("8 what?"), "{e}");
    }
}
