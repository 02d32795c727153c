//! The grids ggufkit derives from the compact code lists (as ggml's `iq3xs_init_impl` and
//! `iq2xs_init_impl` do) equal
//! the tables the pinned ggml ships for dequantization (`ggml-common.h`), read from its source,
//! and the sign bytes with their parity bit equal `ksigns_iq2xs`.

use crate::common;

use quantize::blocks::{iq1_s, iq2_s, iq2_xs, iq2_xxs, iq3_s, iq3_xxs, iq_grid};

/// The numbers of the table `name` in the pinned `ggml-common.h` (`GGML_TABLE_BEGIN(type, name,
/// n)` … `GGML_TABLE_END()`).
fn ggml_table(name: &str) -> Vec<u64> {
    let path = common::ref_llama_src().join("ggml/src/ggml-common.h");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = text.find(&format!(", {name},")).unwrap_or_else(|| panic!("table {name} not in {}", path.display()));
    let body = &text[start..];
    let body = &body[body.find(')').expect("table header") + 1..body.find("GGML_TABLE_END").expect("table end")];
    body.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).unwrap_or_else(|e| panic!("{name}: {s}: {e}")),
            None => s.parse().unwrap_or_else(|e| panic!("{name}: {s}: {e}")),
        })
        .collect()
}

#[test]
fn iq3_grids_equal_ggml_tables() {
    let xxs = ggml_table("iq3xxs_grid");
    assert_eq!(xxs.len(), 256);
    for (k, (&want, p)) in xxs.iter().zip(&iq3_xxs::grid().points).enumerate() {
        let ours = u32::from_le_bytes(p.map(|v| iq3_xxs::DEQUANT_LEVELS[((v - 1) / 2) as usize]));
        assert_eq!(ours as u64, want, "iq3xxs_grid[{k}]");
    }
    let s = ggml_table("iq3s_grid");
    assert_eq!(s.len(), 512);
    for (k, (&want, p)) in s.iter().zip(&iq3_s::grid().points).enumerate() {
        assert_eq!(u32::from_le_bytes(*p) as u64, want, "iq3s_grid[{k}]");
    }
}

#[test]
fn iq2_grids_equal_ggml_tables() {
    for (name, points) in
        [("iq2xxs_grid", &iq2_xxs::grid().points), ("iq2xs_grid", &iq2_xs::grid().points), ("iq2s_grid", &iq2_s::grid().points)]
    {
        let t = ggml_table(name);
        assert_eq!(t.len(), points.len(), "{name}");
        for (k, (&want, p)) in t.iter().zip(points).enumerate() {
            let ours = u64::from_le_bytes(p.map(|v| iq2_s::DEQUANT_LEVELS[((v - 1) / 2) as usize]));
            assert_eq!(ours, want, "{name}[{k}]");
        }
    }
}

#[test]
fn iq1_s_grid_equals_ggml_table() {
    let t = ggml_table("iq1s_grid");
    assert_eq!(t.len(), 2048);
    for (k, (&want, p)) in t.iter().zip(&iq1_s::grid().points).enumerate() {
        // Levels 0, 1, 2 are the values -1, 0, +1, one signed byte each.
        let ours = u64::from_le_bytes(p.map(|v| (((v - 1) / 2) as i8 - 1) as u8));
        assert_eq!(ours, want, "iq1s_grid[{k}]");
    }
}

#[test]
fn sign_parity_equals_ksigns() {
    let ksigns = ggml_table("ksigns_iq2xs");
    assert_eq!(ksigns.len(), 128);
    for (i, &want) in ksigns.iter().enumerate() {
        assert_eq!(iq_grid::signs_with_parity(i as u8) as u64, want, "ksigns_iq2xs[{i}]");
    }
}
