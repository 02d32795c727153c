//! `tokenizer.ggml.pre` for byte-level BPE: recognised from the pre-tokenizer that
//! `tokenizer.json` declares, instead of the pinned converter's hash of a test encoding (which
//! refuses every tokenizer whose exact vocabulary it has not seen).
//!
//! The declared chain (`Split` regexes, `Digits`, `ByteLevel`) is reduced to the list of split
//! regexes it applies before byte-level mapping; that list is looked up in [`KNOWN`], one row
//! per llama.cpp pre-type, holding the regexes as the tokenizers of those models declare them
//! (the "original regex from tokenizer.json" of each `LLAMA_VOCAB_PRE_TYPE_*` in the pinned
//! src/llama-vocab.cpp, which llama.cpp then applies in an adapted form).

use serde_json::Value as Json;
use validate::vocab::pre::{Clean, Known, DIGIT, GPT2, KNOWN};

/// What a pre-tokenizer step reduces to.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// An isolating split by this regex.
    Split(String),
    /// The final byte-level mapping (no regex of its own).
    ByteLevel,
}

/// Reduces a `pre_tokenizer` JSON (a single one or a `Sequence`) to split steps; Err describes
/// the step that has no llama.cpp equivalent.
fn reduce(pt: &Json, out: &mut Vec<Step>) -> Result<(), String> {
    let ty = pt.get("type").and_then(|t| t.as_str()).unwrap_or("(no type)");
    match ty {
        "Sequence" => {
            let list = pt.get("pretokenizers").and_then(|l| l.as_array()).ok_or("Sequence without pretokenizers")?;
            for p in list {
                reduce(p, out)?;
            }
        }
        "Split" => {
            let pattern = pt.get("pattern");
            let regex = pattern
                .and_then(|p| p.get("Regex"))
                .and_then(|r| r.as_str())
                .map(str::to_owned)
                .or_else(|| pattern.and_then(|p| p.get("String")).and_then(|s| s.as_str()).map(regex_escape))
                .ok_or("Split without a pattern")?;
            let behavior = pt.get("behavior").and_then(|b| b.as_str()).unwrap_or("");
            let invert = pt.get("invert").and_then(|b| b.as_bool()).unwrap_or(false);
            if behavior != "Isolated" || invert {
                return Err(format!("Split({regex:?}, behavior={behavior}, invert={invert})"));
            }
            out.push(Step::Split(regex));
        }
        "Digits" => {
            let individual = pt.get("individual_digits").and_then(|b| b.as_bool()).unwrap_or(false);
            out.push(Step::Split(if individual { DIGIT.to_owned() } else { r"\p{N}+".to_owned() }));
        }
        "ByteLevel" => {
            if pt.get("add_prefix_space").and_then(|b| b.as_bool()).unwrap_or(false) {
                return Err("ByteLevel(add_prefix_space=true)".into());
            }
            if pt.get("use_regex").and_then(|b| b.as_bool()).unwrap_or(true) {
                out.push(Step::Split(GPT2.to_owned()));
            }
            out.push(Step::ByteLevel);
        }
        other => return Err(format!("{other} pre-tokenizer")),
    }
    Ok(())
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Describes the declared pre-tokenizer for error messages.
fn describe(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Split(r) => format!("Split({r:?})"),
            Step::ByteLevel => "ByteLevel".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

/// The llama.cpp pre-tokenizer name for a byte-level BPE `tokenizer.json` (`pre_tokenizer`),
/// given `tokenizer_config.json`'s `clean_up_tokenization_spaces` (None when absent).
///
/// Err is a message saying what was found and which pre-tokenizers are known.
pub fn detect(tokenizer_json: &Json, clean_up_tokenization_spaces: Option<bool>) -> Result<&'static str, String> {
    let known_list = validate::vocab::pre::known_names;
    let pt = tokenizer_json
        .get("pre_tokenizer")
        .filter(|p| !p.is_null())
        .ok_or_else(|| format!("tokenizer.json declares no pre_tokenizer; known byte-level BPE pre-tokenizers: {}", known_list()))?;
    let mut steps = Vec::new();
    if let Err(what) = reduce(pt, &mut steps) {
        return Err(format!(
            "the pre-tokenizer of tokenizer.json has a step llama.cpp cannot reproduce: {what}; known byte-level BPE pre-tokenizers: {}",
            known_list()
        ));
    }
    // Byte-level mapping must come last, once; the regexes before it are the split list.
    let regexes: Vec<&str> = match steps.split_last() {
        Some((Step::ByteLevel, rest)) if !rest.contains(&Step::ByteLevel) => rest
            .iter()
            .filter_map(|s| match s {
                Step::Split(r) => Some(r.as_str()),
                Step::ByteLevel => None,
            })
            .collect(),
        _ => {
            return Err(format!(
                "the pre-tokenizer of tokenizer.json is not byte-level ({}); known byte-level BPE pre-tokenizers: {}",
                describe(&steps),
                known_list()
            ))
        }
    };
    let clean = clean_up_tokenization_spaces.unwrap_or(false);
    let ignore_merges = tokenizer_json.get("model").and_then(|m| m.get("ignore_merges")).and_then(|b| b.as_bool()).unwrap_or(false);
    let candidates: Vec<&Known> = KNOWN.iter().filter(|k| k.regexes == regexes.as_slice() && k.ignore_merges == ignore_merges).collect();
    let chosen = candidates
        .iter()
        .find(|k| match k.clean {
            Clean::Any => true,
            Clean::Yes => clean,
            Clean::No => !clean,
        })
        .or(candidates.first());
    chosen.map(|k| k.pre).ok_or_else(|| {
        format!(
            "BPE pre-tokenizer not recognized: tokenizer.json declares {} (model.ignore_merges = {ignore_merges}), which splits like none of the known ones ({})",
            describe(&steps),
            known_list()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use validate::vocab::pre::{LLAMA3, QWEN2};

    #[test]
    fn qwen2_sequence_is_recognised() {
        let t = json!({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]}});
        assert_eq!(detect(&t, Some(false)), Ok("qwen2"));
    }

    #[test]
    fn plain_byte_level_is_gpt2_and_digits_pick_by_clean_spaces() {
        let t = json!({"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}});
        assert_eq!(detect(&t, None), Ok("gpt-2"));
        let t = json!({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]}});
        assert_eq!(detect(&t, Some(false)), Ok("smollm"));
        assert_eq!(detect(&t, Some(true)), Ok("starcoder"));
    }

    #[test]
    fn llama3_split_is_told_apart_by_ignore_merges() {
        let pt = json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]});
        let t = json!({"pre_tokenizer": pt, "model": {"type": "BPE", "ignore_merges": true}});
        assert_eq!(detect(&t, None), Ok("llama-bpe"));
        let t = json!({"pre_tokenizer": pt, "model": {"type": "BPE"}});
        assert_eq!(detect(&t, None), Ok("smaug-bpe"));
    }

    #[test]
    fn unknown_regex_fails_with_what_was_found() {
        let t = json!({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}});
        let e = detect(&t, None).unwrap_err();
        assert!(e.contains("\\\\w+") && e.contains("qwen2"), "{e}");
        let t = json!({"pre_tokenizer": {"type": "Metaspace", "replacement": "\u{2581}"}});
        assert!(detect(&t, None).unwrap_err().contains("Metaspace"));
        assert!(detect(&json!({}), None).is_err());
    }
}
