//! The `general.*` keys the pinned converter writes (gguf-py `Metadata`): `general.type`, the
//! sampling defaults from `generation_config.json`, and the name, basename, finetune, version and
//! size label guessed from `_name_or_path` or the model folder's name, as gguf-py's heuristics do
//! (model-card `README.md` front matter is not read).

use gguf::Value;
use serde_json::Value as Json;

/// Name components guessed from a model id (`get_model_id_components`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NameParts {
    /// The model name part (after `org/`).
    pub full_name: Option<String>,
    /// The organisation (before `/`).
    pub org: Option<String>,
    /// Base name.
    pub basename: Option<String>,
    /// Finetune.
    pub finetune: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Size label.
    pub size_label: Option<String>,
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `(v|iter)?\d+([.]\d+)*`, case-insensitive, whole string.
fn is_version(part: &str) -> bool {
    let lower = part.to_ascii_lowercase();
    let rest = lower.strip_prefix("iter").or_else(|| lower.strip_prefix('v')).unwrap_or(&lower);
    !rest.is_empty() && rest.split('.').all(all_digits)
}

/// `i?q\d(_\w)*|b?fp?(16|32)`, case-insensitive, whole string.
fn is_quant_type(part: &str) -> bool {
    let l = part.to_ascii_lowercase();
    let q = l.strip_prefix('i').unwrap_or(&l);
    if let Some(r) = q.strip_prefix('q') {
        let mut chars = r.chars();
        if chars.next().map(|c| c.is_ascii_digit()).unwrap_or(false) {
            let tail: String = chars.collect();
            // (_\w)*: pairs of '_' + one word char
            let b = tail.as_bytes();
            if b.len().is_multiple_of(2) && b.chunks(2).all(|c| c[0] == b'_' && (c[1].is_ascii_alphanumeric() || c[1] == b'_')) {
                return true;
            }
        }
    }
    let f = l.strip_prefix('b').unwrap_or(&l);
    if let Some(r) = f.strip_prefix('f') {
        let r = r.strip_prefix('p').unwrap_or(r);
        if r == "16" || r == "32" {
            return true;
        }
    }
    false
}

/// `(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)`, case-insensitive.
fn is_size(part: &str) -> bool {
    let l = part.to_ascii_lowercase();
    if ["small", "mini", "medium", "large", "xl", "xxl"].contains(&l.as_str()) {
        return true;
    }
    let b = l.as_bytes();
    let digits = |i: usize| -> usize { b[i..].iter().take_while(|c| c.is_ascii_digit()).count() };
    let try_from = |start: usize| -> bool {
        let mut i = start;
        let n = digits(i);
        if n == 0 {
            return false;
        }
        i += n;
        if i < b.len() && (b[i] == b'.' || b[i] == b'_') {
            let m = digits(i + 1);
            if m > 0 {
                i += 1 + m;
            }
        }
        if i < b.len() && b"kmbt".contains(&b[i]) {
            i += 1;
            if i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            return i == b.len();
        }
        false
    };
    if try_from(0) {
        return true;
    }
    if b.first() == Some(&b'a') && try_from(1) {
        return true;
    }
    let n = digits(0);
    n > 0 && b.get(n) == Some(&b'x') && try_from(n + 1)
}

/// gguf-py `Metadata.get_model_id_components`.
pub fn model_id_components(model_id: &str, total_params: u64) -> NameParts {
    if model_id.contains(' ') {
        return NameParts { full_name: Some(model_id.to_string()), ..Default::default() };
    }
    let (mut org, full) = match model_id.split_once('/') {
        Some((o, n)) => (Some(o.to_string()), n.to_string()),
        None => (None, model_id.to_string()),
    };
    if org.as_deref().map(|o| o.starts_with('.')).unwrap_or(false) {
        org = None;
    }
    let mut parts: Vec<String> = full.split('-').filter(|p| !p.is_empty()).map(String::from).collect();
    let mut types: Vec<Vec<&'static str>> = vec![Vec::new(); parts.len()];
    for i in 0..parts.len() {
        let part = parts[i].clone();
        if is_version(&part) {
            types[i].push("version");
        } else if is_quant_type(&part) {
            types[i].push("type");
            parts[i] = part.to_uppercase();
        } else if i > 0 && is_size(&part) {
            let mut p = part.replace('_', ".");
            let pb: Vec<char> = p.chars().collect();
            if pb.last().map(|c| c.is_ascii_digit()).unwrap_or(false) && pb.len() >= 2 {
                // bloom-7b1 → 7.1b
                let n = pb.len();
                p = format!("{}.{}{}", pb[..n - 2].iter().collect::<String>(), pb[n - 1], pb[n - 2]);
            }
            let pc: Vec<char> = p.chars().collect();
            if pc.len() > 1 && pc[pc.len() - 2].is_ascii_digit() && "kmbt".contains(pc[pc.len() - 1]) {
                p = format!("{}{}", pc[..pc.len() - 1].iter().collect::<String>(), pc[pc.len() - 1].to_ascii_uppercase());
            }
            if total_params != 0 {
                let pc: Vec<char> = p.chars().collect();
                if let Some(&last) = pc.last() {
                    let mult = " KMBT".find(last);
                    let num: Option<f64> = pc[..pc.len() - 1].iter().collect::<String>().parse().ok();
                    if let (Some(num), Some(m)) = (num, mult) {
                        let label = num * 1000f64.powi(m as i32);
                        let tp = total_params as f64;
                        if (label - tp).abs() > (7 * total_params / 8) as f64 {
                            types[i].push("finetune");
                            p = format!("{}{}", pc[..pc.len() - 1].iter().collect::<String>(), last.to_ascii_lowercase());
                        }
                    }
                }
            }
            if types[i].is_empty() {
                types[i].push("size_label");
            }
            parts[i] = p;
        } else if i > 0 && ["chat", "instruct", "vision", "lora"].contains(&part.to_ascii_lowercase().as_str()) {
            types[i].push("finetune");
        }
    }
    let has_numeric_size = parts.iter().zip(&types).any(|(n, t)| t.contains(&"size_label") && n.chars().any(|c| c.is_ascii_digit()));
    if has_numeric_size {
        for (n, t) in parts.iter().zip(types.iter_mut()) {
            if t.contains(&"size_label") && n.chars().all(|c| c.is_alphabetic()) {
                t.retain(|x| *x != "size_label");
            }
        }
    }
    let mut at_start = true;
    for (part, t) in parts.iter().zip(types.iter_mut()) {
        let starts_alpha = part.chars().next().map(|c| c.is_alphabetic()).unwrap_or(false);
        if at_start && ((t.is_empty() && starts_alpha) || t.contains(&"version")) {
            t.push("basename");
        } else {
            at_start = false;
            if t.is_empty() {
                t.push("finetune");
            }
        }
    }
    for t in types.iter_mut().rev() {
        if t.contains(&"basename") && t.len() > 1 {
            t.retain(|x| *x != "basename");
        } else {
            break;
        }
    }
    let join = |kind: &str, exclude_basename: bool| -> Option<String> {
        let mut seen: Vec<&str> = Vec::new();
        for (n, t) in parts.iter().zip(&types) {
            if t.contains(&kind) && !(exclude_basename && t.contains(&"basename")) && !(kind == "size_label" && seen.contains(&n.as_str()))
            {
                seen.push(n);
            }
        }
        (!seen.is_empty()).then(|| seen.join("-"))
    };
    let mut basename = join("basename", false);
    let size_label = join("size_label", false);
    let finetune = join("finetune", false);
    let version = join("version", true);
    if size_label.is_none() && finetune.is_none() && version.is_none() {
        basename = None;
    }
    NameParts { full_name: Some(full), org, basename, finetune, version, size_label }
}

/// Python's `str.title()` for one word.
fn py_title(w: &str) -> String {
    let mut out = String::new();
    let mut prev_cased = false;
    for c in w.chars() {
        if c.is_alphabetic() {
            if prev_cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            prev_cased = true;
        } else {
            out.push(c);
            prev_cased = false;
        }
    }
    out
}

fn py_islower(w: &str) -> bool {
    w.chars().any(|c| c.is_lowercase()) && !w.chars().any(|c| c.is_uppercase())
}

/// gguf-py `Metadata.id_to_title`.
pub fn id_to_title(s: &str) -> String {
    s.trim()
        .replace('-', " ")
        .split_whitespace()
        .map(|w| {
            let skip = {
                let l = w;
                let ver = l
                    .strip_prefix('v')
                    .map(|r| !r.is_empty() && r.split('.').all(all_digits) && r.chars().next().map(|c| c.is_ascii_digit()).unwrap_or(false))
                    .unwrap_or(false);
                ver || l.chars().next().map(|c| c.is_ascii_digit()).unwrap_or(false)
            };
            if py_islower(w) && !skip {
                py_title(w)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// gguf-py's `GGUFWriter.get_total_parameter_count` of a model's tensors: every element, the
/// elements of one expert of the stacked `*_exps.` tensors, and the experts per stacked tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParamCount {
    /// Every tensor's elements.
    pub total: u64,
    /// Elements outside the stacked expert tensors.
    pub shared: u64,
    /// One expert's elements of each stacked tensor, summed.
    pub expert: u64,
    /// The mean expert count of the stacked tensors (0 when there are none).
    pub expert_count: u64,
}

impl ParamCount {
    /// Counts tensors given by GGUF name and ggml dims (a stacked tensor's experts are its last
    /// dimension, or a bias's).
    pub fn of<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a [u64])>) -> ParamCount {
        let mut c = ParamCount::default();
        let (mut expert_sum, mut n_expert_tensors) = (0u64, 0u64);
        for (name, dims) in tensors {
            let size: u64 = dims.iter().product();
            c.total += size;
            // gguf-py reads the expert count from the PyTorch shape: [-3] of a weight, [-2] of a
            // bias, which are ggml dims[2] and dims[1]
            let at = if name.contains(".bias") { 1 } else { 2 };
            match (name.contains("_exps."), dims.len() >= 3) {
                (true, true) => {
                    let count = dims[at].max(1);
                    c.expert += size / count;
                    expert_sum += count;
                    n_expert_tensors += 1;
                }
                _ => c.shared += size,
            }
        }
        c.expert_count = expert_sum.checked_div(n_expert_tensors).unwrap_or(0);
        c
    }

    /// gguf-py `size_label(total, shared, expert, expert_count)`: `8x3.7M` for a mixture of
    /// experts, else [`size_label`] of the total.
    pub fn label(&self) -> String {
        if self.expert_count > 0 {
            format!("{}x{}", self.expert_count, size_label(self.shared + self.expert))
        } else {
            size_label(self.total)
        }
    }
}

/// gguf-py `model_weight_count_rounded_notation(n, min_digits=2)`.
pub fn size_label(total_params: u64) -> String {
    let n = total_params as f64;
    let (scaled, suffix) = if n > 1e12 {
        (n * 1e-12, "T")
    } else if n > 1e9 {
        (n * 1e-9, "B")
    } else if n > 1e6 {
        (n * 1e-6, "M")
    } else {
        (n * 1e-3, "K")
    };
    let rounded = scaled.round_ties_even() as u64;
    let digits = if rounded == 0 { 0 } else { rounded.to_string().len() };
    let fix = 2usize.saturating_sub(digits);
    format!("{scaled:.fix$}{suffix}")
}

/// The model id a folder stands for: its name, as the reference converter takes it
/// (`dir_model.name`), except for a snapshot folder of the Hugging Face cache
/// (`…/models--ORG--NAME/snapshots/HASH`), which stands for the repo `ORG/NAME` rather than the
/// hash. (The pinned converter would name such a model after the hash; this is the one place
/// where ggufkit's `general.name` knowingly differs from it, see `docs/modelfile.md`.)
pub fn model_dir_id(model_dir: &std::path::Path) -> Option<String> {
    let canonical = model_dir.canonicalize().ok();
    let dir = canonical.as_deref().unwrap_or(model_dir);
    let name = |p: Option<&std::path::Path>| p.and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
    let parent = dir.parent();
    if name(parent).as_deref() == Some("snapshots") {
        if let Some(repo) = name(parent.and_then(|p| p.parent())).as_deref().and_then(|n| n.strip_prefix("models--")) {
            if let Some((org, model)) = repo.split_once("--") {
                if !org.is_empty() && !model.is_empty() {
                    return Some(format!("{org}/{model}"));
                }
            }
        }
    }
    name(Some(dir)).or_else(|| name(Some(model_dir)))
}

/// The `general.*` keys after `general.architecture`, in the converter's order: `general.type`,
/// sampling defaults, name, version, organization, finetune, basename, size label.
pub fn general_keys(
    model_dir: &std::path::Path,
    config: &Json,
    generation_config: Option<&Json>,
    params: &ParamCount,
) -> Vec<(String, Value)> {
    let total_params = params.total;
    let mut name: Option<String> = None;
    let mut org = None;
    let mut basename = None;
    let mut finetune = None;
    let mut version = None;
    let mut size = None;
    let mut apply = |p: NameParts| {
        if name.is_none() {
            name = p.full_name.as_deref().map(id_to_title);
        }
        if org.is_none() {
            org = p.org.as_deref().map(id_to_title);
        }
        basename = basename.take().or(p.basename);
        finetune = finetune.take().or(p.finetune);
        version = version.take().or(p.version);
        size = size.take().or(p.size_label);
    };
    if let Some(id) = config.get("_name_or_path").and_then(Json::as_str) {
        if id.matches('/').count() <= 1 {
            apply(model_id_components(id, total_params));
        }
    }
    if let Some(d) = model_dir_id(model_dir) {
        apply(model_id_components(&d, total_params));
    }
    let mut out = vec![("general.type".to_string(), Value::String("model".into()))];
    if let Some(g) = generation_config {
        let i32k = |k: &str| g.get(k).and_then(Json::as_i64).map(|v| Value::I32(v as i32));
        let f32k = |k: &str| g.get(k).and_then(Json::as_f64).map(|v| Value::F32(v as f32));
        let entries: [(&str, Option<Value>); 12] = [
            ("sequence", g.get("sequence").and_then(Json::as_str).map(|s| Value::String(s.to_string()))),
            ("top_k", i32k("top_k")),
            ("top_p", f32k("top_p")),
            ("min_p", f32k("min_p")),
            ("xtc_probability", f32k("xtc_probability")),
            ("xtc_threshold", f32k("xtc_threshold")),
            ("temp", f32k("temperature")),
            ("penalty_last_n", i32k("penalty_last_n")),
            ("penalty_repeat", f32k("penalty_repeat").or_else(|| f32k("repetition_penalty"))),
            ("mirostat", i32k("mirostat")),
            ("mirostat_tau", f32k("mirostat_tau")),
            ("mirostat_eta", f32k("mirostat_eta")),
        ];
        for (k, v) in entries {
            if let Some(v) = v {
                out.push((format!("general.sampling.{k}"), v));
            }
        }
    }
    let size = size.or_else(|| (total_params > 0).then(|| params.label()));
    let s = |k: &str, v: Option<String>| v.map(|v| (k.to_string(), Value::String(v)));
    out.extend(
        [
            s("general.name", Some(name.unwrap_or_else(|| "model".into()))),
            s("general.version", version),
            s("general.organization", org),
            s("general.finetune", finetune),
            s("general.basename", basename),
            s("general.size_label", size),
        ]
        .into_iter()
        .flatten(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values read from gguf-py 0.19.0's metadata.py behaviour (tests/test_metadata.py).
    #[test]
    fn id_components_like_gguf_py() {
        let p = model_id_components("Mixtral-8x7B-Instruct-v0.1", 0);
        assert_eq!(p.basename.as_deref(), Some("Mixtral"));
        assert_eq!(p.size_label.as_deref(), Some("8x7B"));
        assert_eq!(p.finetune.as_deref(), Some("Instruct"));
        assert_eq!(p.version.as_deref(), Some("v0.1"));
        let p = model_id_components("tiny-llama", 0);
        assert_eq!(p.basename, None);
        assert_eq!(id_to_title("tiny-llama"), "Tiny Llama");
    }

    // gguf-py 0.19.0: get_total_parameter_count of the pinned converter's tiny-qwen3moe F16
    // (general.size_label "8x3.7M"); PyTorch shape (8, 256, 256) is ggml dims [256, 256, 8]
    #[test]
    fn expert_tensors_count_once_per_expert() {
        let exps: &[u64] = &[256, 256, 8];
        let dense: &[u64] = &[256, 4096];
        let c = ParamCount::of([("blk.0.ffn_up_exps.weight", exps), ("token_embd.weight", dense)]);
        assert_eq!(c, ParamCount { total: 256 * 256 * 8 + 256 * 4096, shared: 256 * 4096, expert: 256 * 256, expert_count: 8 });
        assert_eq!(c.label(), "8x1.1M");
        assert_eq!(ParamCount::of([("token_embd.weight", dense)]).label(), "1.0M");
    }
}
