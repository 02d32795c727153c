//! Special tokens, add-token flags, BPE merges and chat template: what gguf-py's `SpecialVocab`
//! (gguf/vocab.py, 0.19.0 as vendored in the pinned llama.cpp) reads from `tokenizer.json`,
//! `tokenizer_config.json`, `chat_template.jinja`/`chat_template.json`, `merges.txt` and
//! `config.json`, and what its `add_to_gguf` writes.
//!
//! The logic follows SpecialVocab step by step, including its Python truthiness tests, because
//! the resulting ids and flags must be the ones llama.cpp's own converter writes.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use super::files::TokenizerFiles;
use super::{read_json, Kv, MetaValue, TokenizerError};

/// `tokenizer_config.json`, if present (read through [`TokenizerFiles::tokenizer_config`]).
pub struct TokenizerConfig {
    /// Where it is (or would be).
    pub path: PathBuf,
    /// Its content.
    pub json: Option<Json>,
}

impl TokenizerConfig {
    /// A top-level entry.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.json.as_ref().and_then(|j| j.get(key))
    }
}

/// Python truthiness of a JSON value (`None`, `False`, `0`, `""`, `[]`, `{}` are false).
pub fn truthy(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Json::String(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
    }
}

fn opt_truthy(v: Option<&Json>) -> bool {
    v.is_some_and(truthy)
}

/// `TextModel.does_token_look_special`: added tokens that some models do not mark special but
/// that are control tokens (`<|…|>`, `<｜…｜>`, `<unused…>`, `<pad>`, `<mask>`, `<2mass>`, `[@BOS@]`).
pub fn does_token_look_special(token: &str) -> bool {
    matches!(token, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (token.starts_with("<|") && token.ends_with("|>"))
        || (token.starts_with("<\u{ff5c}") && token.ends_with("\u{ff5c}>"))
        || (token.starts_with("<unused") && token.ends_with('>'))
}

/// The special-token kinds SpecialVocab looks for by default.
pub const DEFAULT_TYPES: &[&str] = &["bos", "eos", "unk", "sep", "pad", "cls", "mask"];

/// GGUF key of each special-token id that gguf-py's writer has a handler for
/// (`add_{typ}_token_id`); other kinds (cls, prefix, suffix, middle, fsep) are skipped by it.
const ID_KEYS: &[(&str, &str)] = &[
    ("bos", "tokenizer.ggml.bos_token_id"),
    ("eos", "tokenizer.ggml.eos_token_id"),
    ("unk", "tokenizer.ggml.unknown_token_id"),
    ("sep", "tokenizer.ggml.seperator_token_id"),
    ("pad", "tokenizer.ggml.padding_token_id"),
    ("mask", "tokenizer.ggml.mask_token_id"),
    ("eot", "tokenizer.ggml.eot_token_id"),
    ("eom", "tokenizer.ggml.eom_token_id"),
];

/// GGUF key of each add-token flag with a writer handler (`add_add_{typ}_token`).
const ADD_KEYS: &[(&str, &str)] =
    &[("bos", "tokenizer.ggml.add_bos_token"), ("eos", "tokenizer.ggml.add_eos_token"), ("sep", "tokenizer.ggml.add_sep_token")];

/// A chat template: one string, or named templates (`[{name, template}]`).
#[derive(Debug, Clone, PartialEq)]
pub enum ChatTemplate {
    /// `tokenizer.chat_template`.
    Single(String),
    /// The list form of tokenizer_config.json / additional_chat_templates.
    Named(Vec<(String, String)>),
}

/// gguf-py's `SpecialVocab`: the state it loads, kept in its insertion orders.
pub struct SpecialVocab {
    /// BPE merges as "a b" strings.
    pub merges: Vec<String>,
    /// `add_special_token` (kind → flag), insertion order.
    pub add_special_token: Vec<(String, bool)>,
    /// `special_token_ids` (kind → id), insertion order; the first id set for a kind wins.
    pub special_token_ids: Vec<(String, u32)>,
    /// `chat_template`, None when absent.
    pub chat_template: Option<ChatTemplate>,
    /// `normalizer_lowercase`.
    pub normalizer_lowercase: Option<bool>,
    /// `normalizer_strip_accents`.
    pub normalizer_strip_accents: Option<bool>,
    special_token_types: Vec<String>,
    n_vocab: Option<usize>,
    load_merges: bool,
}

fn invalid(path: &Path, what: impl Into<String>) -> TokenizerError {
    TokenizerError::Invalid { path: path.to_path_buf(), what: what.into() }
}

fn set_add(list: &mut Vec<(String, bool)>, typ: &str, value: bool) {
    match list.iter_mut().find(|(t, _)| t == typ) {
        Some(e) => e.1 = value,
        None => list.push((typ.to_owned(), value)),
    }
}

fn setdefault_add(list: &mut Vec<(String, bool)>, typ: &str, value: bool) {
    if !list.iter().any(|(t, _)| t == typ) {
        list.push((typ.to_owned(), value));
    }
}

/// `dict.get(key)` on a JSON object value, None for non-objects.
fn jget<'a>(v: &'a Json, key: &str) -> Option<&'a Json> {
    v.as_object().and_then(|o| o.get(key))
}

/// `tmpl[i].get('SpecialToken', {}).get('id')` as a truthy string-ish JSON value.
fn special_token_id(entry: Option<&Json>) -> Option<Json> {
    let id = entry.and_then(|e| jget(e, "SpecialToken")).and_then(|s| jget(s, "id"))?;
    truthy(id).then(|| id.clone())
}

fn json_eq_opt(a: &Json, b: Option<&Json>) -> bool {
    b.is_some_and(|b| a == b)
}

impl SpecialVocab {
    /// `SpecialVocab(path, load_merges, special_token_types, n_vocab)`: loads everything.
    pub fn new(
        files: &TokenizerFiles,
        config: &Json,
        load_merges: bool,
        special_token_types: Option<&[&str]>,
        n_vocab: Option<usize>,
    ) -> Result<Self, TokenizerError> {
        let mut sv = SpecialVocab {
            merges: Vec::new(),
            add_special_token: Vec::new(),
            special_token_ids: Vec::new(),
            chat_template: None,
            normalizer_lowercase: None,
            normalizer_strip_accents: None,
            special_token_types: special_token_types.unwrap_or(DEFAULT_TYPES).iter().map(|s| s.to_string()).collect(),
            n_vocab,
            load_merges,
        };
        sv.load_from_tokenizer_json(files)?;
        sv.load_from_config_json(&files.path("config.json"), config)?;
        if sv.load_merges && sv.merges.is_empty() {
            sv.load_merges_txt(files.dir())?;
        }
        Ok(sv)
    }

    /// `_set_special_token`: only integer ids; a negative id is an error; ids past `n_vocab` are
    /// skipped; the first id of a kind wins.
    pub fn set_special_token(&mut self, typ: &str, tid: Option<&Json>, source: &Path) -> Result<(), TokenizerError> {
        let Some(tid) = tid else { return Ok(()) };
        // Python's isinstance(x, int) also accepts booleans.
        let id: i128 = match tid {
            Json::Bool(b) => i128::from(*b),
            Json::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i128::from(i),
                (None, Some(u)) => i128::from(u),
                _ => return Ok(()), // a float
            },
            _ => return Ok(()),
        };
        if id < 0 {
            return Err(invalid(source, format!("invalid value for special token type {typ}: {id}")));
        }
        let id = u32::try_from(id).map_err(|_| invalid(source, format!("special token {typ} id {id} does not fit in uint32")))?;
        // Past n_vocab the converter warns "out of range … skipping".
        if self.n_vocab.is_none_or(|n| (id as usize) < n) && !self.special_token_ids.iter().any(|(t, _)| t == typ) {
            self.special_token_ids.push((typ.to_owned(), id));
        }
        Ok(())
    }

    fn set_special_token_id(&mut self, typ: &str, id: u32) -> Result<(), TokenizerError> {
        self.set_special_token(typ, Some(&Json::from(id)), Path::new("(converter constant)"))
    }

    fn parse_normalizer(&mut self, normalizer: &Json) {
        match jget(normalizer, "type").and_then(|t| t.as_str()) {
            Some("Lowercase") => self.normalizer_lowercase = Some(true),
            Some("StripAccents") => self.normalizer_strip_accents = Some(true),
            Some("BertNormalizer") => {
                // The values are taken as they are; gguf-py writes them with add_bool.
                if let Some(v) = jget(normalizer, "lowercase") {
                    self.normalizer_lowercase = Some(truthy(v));
                }
                if let Some(v) = jget(normalizer, "strip_accents") {
                    self.normalizer_strip_accents = Some(truthy(v));
                }
            }
            Some("Sequence") => {
                if let Some(list) = jget(normalizer, "normalizers").and_then(|n| n.as_array()) {
                    for n in list {
                        self.parse_normalizer(n);
                    }
                }
            }
            _ => {}
        }
    }

    fn load_merges_from_tokenizer_json(&mut self, tokenizer: &Json, path: &Path) -> Result<(), TokenizerError> {
        let Some(merges) = jget(tokenizer, "model").and_then(|m| jget(m, "merges")).and_then(|m| m.as_array()) else {
            return Ok(());
        };
        let Some(first) = merges.first() else { return Ok(()) };
        if first.is_string() {
            self.merges = merges
                .iter()
                .enumerate()
                .map(|(i, m)| m.as_str().map(str::to_owned).ok_or_else(|| invalid(path, format!("model.merges[{i}] is not a string"))))
                .collect::<Result<_, _>>()?;
        } else if first.as_array().is_some_and(|p| p.len() == 2 && p[0].is_string()) {
            // The pair form of transformers ≥ 4.45: spaces inside a part are encoded as U+0120,
            // as gguf-py does, then the parts are joined by one space.
            let encode = |s: &str| s.chars().map(|c| if c == ' ' { '\u{120}' } else { c }).collect::<String>();
            self.merges = merges
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let parts = m.as_array().ok_or_else(|| invalid(path, format!("model.merges[{i}] is not a pair")))?;
                    let strs: Option<Vec<String>> = parts.iter().map(|p| p.as_str().map(encode)).collect();
                    strs.map(|s| s.join(" ")).ok_or_else(|| invalid(path, format!("model.merges[{i}] holds a non-string")))
                })
                .collect::<Result<_, _>>()?;
        } else {
            return Err(invalid(path, format!("unknown tokenizer merges format: first entry is {first}")));
        }
        Ok(())
    }

    fn load_from_tokenizer_json(&mut self, files: &TokenizerFiles) -> Result<(), TokenizerError> {
        let model_dir = files.dir();
        let tokenizer_path = files.path("tokenizer.json");
        let tokenizer = files.tokenizer_json()?;
        let mut added_tokens: Vec<Json> = Vec::new();
        if let Some(tokenizer) = tokenizer {
            if self.load_merges {
                self.load_merges_from_tokenizer_json(tokenizer, &tokenizer_path)?;
            }
            if let Some(n) = jget(tokenizer, "normalizer").filter(|n| truthy(n)) {
                self.parse_normalizer(&n.clone());
            }
            if let Some(list) = jget(tokenizer, "added_tokens").and_then(|a| a.as_array()) {
                added_tokens = list.clone();
            }
        }
        let tc = files.tokenizer_config()?;
        let tc_path = tc.path.clone();
        // `tokenizer_config` is mutated below, as gguf-py does (on a copy: the files stay as read).
        let mut config: Option<Map<String, Json>> = match &tc.json {
            None => None,
            Some(Json::Object(o)) => Some(o.clone()),
            Some(_) => return Err(invalid(&tc_path, "expected a JSON object")),
        };
        let cfg_truthy = |c: &Option<Map<String, Json>>| c.as_ref().is_some_and(|m| !m.is_empty());

        if let Some(tokenizer) = tokenizer.filter(|t| truthy(t)) {
            let get = |c: &Option<Map<String, Json>>, k: &str| c.as_ref().and_then(|m| m.get(k)).cloned();
            let mut special_bos = get(&config, "bos_token");
            let mut special_cls = get(&config, "cls_token");
            let mut special_eos = get(&config, "eos_token");
            let mut special_sep = get(&config, "sep_token");
            if !opt_truthy(special_bos.as_ref()) && opt_truthy(special_cls.as_ref()) && cfg_truthy(&config) {
                special_bos = special_cls.clone();
                if let (Some(m), Some(v)) = (config.as_mut(), special_bos.clone()) {
                    m.insert("bos_token".into(), v);
                }
            }
            if !opt_truthy(special_eos.as_ref()) && opt_truthy(special_sep.as_ref()) && cfg_truthy(&config) {
                special_eos = special_sep.clone();
                if let (Some(m), Some(v)) = (config.as_mut(), special_eos.clone()) {
                    m.insert("eos_token".into(), v);
                }
            }
            if let Some(post) = jget(tokenizer, "post_processor").filter(|p| truthy(p)) {
                let processors: Vec<Json> = match jget(post, "processors") {
                    Some(Json::Array(a)) => a.clone(),
                    Some(_) => Vec::new(),
                    None => vec![post.clone()],
                };
                for processor in &processors {
                    match jget(processor, "type").and_then(|t| t.as_str()) {
                        Some("ByteLevel") => {
                            setdefault_add(&mut self.add_special_token, "bos", false);
                            setdefault_add(&mut self.add_special_token, "eos", false);
                        }
                        Some("RobertaProcessing") => {
                            set_add(&mut self.add_special_token, "bos", true);
                            set_add(&mut self.add_special_token, "eos", true);
                            set_add(&mut self.add_special_token, "sep", true);
                            if !opt_truthy(special_cls.as_ref()) && cfg_truthy(&config) {
                                special_cls = jget(processor, "cls")
                                    .map(|c| c.as_array().and_then(|a| a.first()).cloned().unwrap_or(Json::Null))
                                    .or_else(|| special_bos.clone());
                                if let Some(m) = config.as_mut() {
                                    m.insert("cls_token".into(), special_cls.clone().unwrap_or(Json::Null));
                                }
                            }
                            if !opt_truthy(special_sep.as_ref()) && cfg_truthy(&config) {
                                special_sep = jget(processor, "sep")
                                    .map(|c| c.as_array().and_then(|a| a.first()).cloned().unwrap_or(Json::Null))
                                    .or_else(|| special_eos.clone());
                                if let Some(m) = config.as_mut() {
                                    m.insert("sep_token".into(), special_sep.clone().unwrap_or(Json::Null));
                                }
                            }
                        }
                        Some("TemplateProcessing") => {
                            let empty = Vec::new();
                            let single = jget(processor, "single").and_then(|s| s.as_array()).unwrap_or(&empty);
                            let mut pair: Vec<Json> = jget(processor, "pair").and_then(|s| s.as_array()).cloned().unwrap_or_default();
                            let mut special_first: Option<Json> = None;
                            let mut special_last: Option<Json> = None;
                            if single.len() > 1 {
                                special_first = special_token_id(single.first());
                                if let Some(first) = &special_first {
                                    if !cfg_truthy(&config) {
                                        special_bos = Some(first.clone());
                                    } else if !json_eq_opt(first, special_bos.as_ref()) && !json_eq_opt(first, special_cls.as_ref()) {
                                        if !opt_truthy(special_bos.as_ref()) {
                                            special_bos = Some(first.clone());
                                            if let Some(m) = config.as_mut() {
                                                m.insert("bos_token".into(), first.clone());
                                            }
                                        }
                                        if !opt_truthy(special_cls.as_ref()) {
                                            special_cls = Some(first.clone());
                                            if let Some(m) = config.as_mut() {
                                                m.insert("cls_token".into(), first.clone());
                                            }
                                        }
                                    }
                                    let is_bos = json_eq_opt(first, special_bos.as_ref()) || json_eq_opt(first, special_cls.as_ref());
                                    set_add(&mut self.add_special_token, "bos", is_bos);
                                }
                                special_last = special_token_id(single.last());
                                if let Some(last) = &special_last {
                                    if !cfg_truthy(&config) {
                                        special_eos = Some(last.clone());
                                    } else if !json_eq_opt(last, special_eos.as_ref()) {
                                        let old_eos = special_eos.clone().unwrap_or(Json::Null);
                                        if !self.special_token_types.iter().any(|t| t == "eot") {
                                            self.special_token_types.push("eot".into());
                                            if let Some(m) = config.as_mut() {
                                                m.insert("eot_token".into(), old_eos);
                                            }
                                        } else if !self.special_token_types.iter().any(|t| t == "eom") {
                                            self.special_token_types.push("eom".into());
                                            if let Some(m) = config.as_mut() {
                                                m.insert("eom_token".into(), old_eos);
                                            }
                                        }
                                        special_eos = Some(last.clone());
                                        if let Some(m) = config.as_mut() {
                                            m.insert("eos_token".into(), last.clone());
                                        }
                                    }
                                    let is_eos = json_eq_opt(last, special_eos.as_ref());
                                    set_add(&mut self.add_special_token, "eos", is_eos);
                                }
                            }
                            if !pair.is_empty() {
                                let pair_id =
                                    |e: Option<&Json>| e.and_then(|e| jget(e, "SpecialToken")).and_then(|s| jget(s, "id")).cloned();
                                let start = usize::from(special_first.is_some() && pair_id(pair.first()) == special_first);
                                let stop_trim = special_last.is_some() && pair_id(pair.last()) == special_last;
                                let end = if stop_trim { pair.len().saturating_sub(1) } else { pair.len() };
                                pair = if start < end { pair[start..end].to_vec() } else { Vec::new() };
                                if !pair.is_empty() {
                                    let seq_id =
                                        |e: Option<&Json>| e.and_then(|e| jget(e, "Sequence")).and_then(|s| jget(s, "id")).cloned();
                                    let a = seq_id(pair.first());
                                    let b = seq_id(pair.last());
                                    let is_a = a.as_ref().and_then(|v| v.as_str()) == Some("A");
                                    let is_b = b.as_ref().and_then(|v| v.as_str()) == Some("B");
                                    if is_a && is_b && pair.len() > 2 {
                                        let middle = &pair[1..pair.len() - 1];
                                        let mut add_sep = false;
                                        if let Some(entry) = special_token_id(middle.first()) {
                                            let sep_or_eos =
                                                json_eq_opt(&entry, special_sep.as_ref()) || json_eq_opt(&entry, special_eos.as_ref());
                                            if sep_or_eos && special_last.is_none() {
                                                add_sep = true;
                                            }
                                        }
                                        if middle.len() == 2 {
                                            if let Some(entry) = special_token_id(middle.get(1)) {
                                                if json_eq_opt(&entry, special_sep.as_ref()) || json_eq_opt(&entry, special_eos.as_ref()) {
                                                    add_sep = true;
                                                }
                                            }
                                        }
                                        set_add(&mut self.add_special_token, "sep", add_sep);
                                        if add_sep && !opt_truthy(special_sep.as_ref()) && cfg_truthy(&config) {
                                            if let Some(m) = config.as_mut() {
                                                m.insert("sep_token".into(), special_eos.clone().unwrap_or(Json::Null));
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }

        let Some(config) = config.filter(|m| !m.is_empty()) else {
            return Ok(());
        };

        // chat_template.jinja (+ additional_chat_templates/*.jinja) or chat_template.json.
        let jinja = model_dir.join("chat_template.jinja");
        let json_path = model_dir.join("chat_template.json");
        let mut alt: Option<ChatTemplate> = None;
        if jinja.is_file() {
            let default = super::read_text(&jinja)?;
            let extra_dir = model_dir.join("additional_chat_templates");
            let mut extra: Vec<PathBuf> = match std::fs::read_dir(&extra_dir) {
                Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "jinja")).collect(),
                Err(_) => Vec::new(),
            };
            extra.sort();
            if extra.is_empty() {
                alt = Some(ChatTemplate::Single(default));
            } else {
                let mut named = vec![("default".to_owned(), default)];
                for p in extra {
                    let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                    named.push((stem, super::read_text(&p)?));
                }
                alt = Some(ChatTemplate::Named(named));
            }
        } else if json_path.is_file() {
            let j = read_json(&json_path)?;
            alt = match jget(&j, "chat_template") {
                None | Some(Json::Null) => None,
                Some(v) => parse_chat_template(v, &json_path)?,
            };
        }
        self.chat_template = match config.get("chat_template") {
            None => alt,
            Some(Json::Null) => None,
            Some(v) => parse_chat_template(v, &tc_path)?,
        };

        let types = self.special_token_types.clone();
        for typ in &types {
            if let Some(Json::Bool(b)) = config.get(&format!("add_{typ}_token")) {
                if !self.add_special_token.iter().any(|(t, _)| t == typ) {
                    self.add_special_token.push((typ.clone(), *b));
                }
                // else: gguf-py keeps the post_processor's value (and warns on a mismatch)
            }
            let content = match config.get(&format!("{typ}_token")) {
                Some(Json::String(s)) => s.clone(),
                Some(Json::Object(o)) => match o.get("content") {
                    Some(Json::String(s)) => s.clone(),
                    _ => continue,
                },
                _ => continue,
            };
            let id = added_tokens
                .iter()
                .find(|a| jget(a, "content").and_then(|c| c.as_str()) == Some(content.as_str()))
                .and_then(|a| jget(a, "id"))
                .cloned();
            self.set_special_token(typ, id.as_ref(), &tc_path)?;
        }
        Ok(())
    }

    fn load_from_config_json(&mut self, path: &Path, config: &Json) -> Result<(), TokenizerError> {
        let types = self.special_token_types.clone();
        for typ in &types {
            let key = format!("{typ}_token_id");
            let mut id = jget(config, &key).filter(|v| !v.is_null()).cloned();
            if id.is_none() {
                if let Some(tc) = jget(config, "text_config") {
                    id = jget(tc, &key).cloned();
                }
            }
            self.set_special_token(typ, id.as_ref(), path)?;
        }
        Ok(())
    }

    fn load_merges_txt(&mut self, model_dir: &Path) -> Result<(), TokenizerError> {
        let path = model_dir.join("merges.txt");
        if !path.is_file() {
            return Ok(());
        }
        let text = super::read_text(&path)?;
        let mut lines = text.split_inclusive('\n').peekable();
        if lines.peek().is_some_and(|l| l.trim().starts_with('#')) {
            lines.next();
        }
        let mut merges = Vec::new();
        for line in lines {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() != 2 {
                continue; // malformed entry: the converter ignores it
            }
            merges.push(format!("{} {}", parts[0], parts[1]));
        }
        self.merges = merges;
        Ok(())
    }

    /// `add_to_gguf`: appends (or overwrites in place) the keys gguf-py writes, in its order.
    pub fn add_to(&self, kv: &mut Kv) {
        if !self.merges.is_empty() {
            kv.set("tokenizer.ggml.merges", MetaValue::StrArray(self.merges.clone()));
        }
        for (typ, id) in &self.special_token_ids {
            if let Some((_, key)) = ID_KEYS.iter().find(|(t, _)| t == typ) {
                kv.set(key, MetaValue::U32(*id));
            }
        }
        for (typ, value) in &self.add_special_token {
            if let Some((_, key)) = ADD_KEYS.iter().find(|(t, _)| t == typ) {
                kv.set(key, MetaValue::Bool(*value));
            }
        }
        if let Some(t) = &self.chat_template {
            add_chat_template(kv, t);
        }
        if let Some(v) = self.normalizer_lowercase {
            kv.set("tokenizer.ggml.normalizer.lowercase", MetaValue::Bool(v));
        }
        if let Some(v) = self.normalizer_strip_accents {
            kv.set("tokenizer.ggml.normalizer.strip_accents", MetaValue::Bool(v));
        }
    }

    /// Sets constant special-token ids the way a model class does after loading
    /// (`special_vocab._set_special_token("eot", 107)`).
    pub fn set_constant(&mut self, typ: &str, id: u32) -> Result<(), TokenizerError> {
        self.set_special_token_id(typ, id)
    }
}

/// A `chat_template` value: a string or a list of `{name, template}`; other types are ignored
/// (gguf-py warns "Bad type for chat_template").
fn parse_chat_template(v: &Json, path: &Path) -> Result<Option<ChatTemplate>, TokenizerError> {
    Ok(match v {
        Json::String(s) => Some(ChatTemplate::Single(s.clone())),
        Json::Array(list) => {
            let mut named = Vec::new();
            for (i, item) in list.iter().enumerate() {
                let obj = item.as_object().ok_or_else(|| invalid(path, format!("chat_template[{i}] is not an object")))?;
                let name = obj.get("name").and_then(|n| n.as_str()).unwrap_or("").to_owned();
                match obj.get("template") {
                    Some(Json::String(t)) => named.push((name, t.clone())),
                    None | Some(Json::Null) => {}
                    Some(_) => return Err(invalid(path, format!("chat_template[{i}].template is not a string"))),
                }
            }
            Some(ChatTemplate::Named(named))
        }
        _ => None,
    })
}

/// `GGUFWriter.add_chat_template`: the list form writes `tokenizer.chat_template.{name}` per named
/// template (name reduced to `[A-Za-z0-9_]`), `tokenizer.chat_templates` with the names, and the
/// `default` one as `tokenizer.chat_template`.
///
/// gguf-py collects the names in a Python set, so its order of `tokenizer.chat_templates` is
/// arbitrary; ours is sorted.
fn add_chat_template(kv: &mut Kv, t: &ChatTemplate) {
    match t {
        ChatTemplate::Single(s) => kv.set("tokenizer.chat_template", MetaValue::Str(s.clone())),
        ChatTemplate::Named(list) => {
            let mut default = None;
            let mut names: Vec<String> = Vec::new();
            for (name, template) in list {
                let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
                if name.is_empty() {
                    continue;
                }
                if name == "default" {
                    default = Some(template.clone());
                } else {
                    if !names.contains(&name) {
                        names.push(name.clone());
                    }
                    kv.set(&format!("tokenizer.chat_template.{name}"), MetaValue::Str(template.clone()));
                }
            }
            if !names.is_empty() {
                names.sort();
                kv.set("tokenizer.chat_templates", MetaValue::StrArray(names));
            }
            if let Some(d) = default {
                kv.set("tokenizer.chat_template", MetaValue::Str(d));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_special() {
        assert!(does_token_look_special("<|im_start|>"));
        assert!(does_token_look_special("<unused12>"));
        assert!(does_token_look_special("<pad>"));
        assert!(!does_token_look_special("<s>"));
        assert!(!does_token_look_special("hello"));
    }

    #[test]
    fn truthiness() {
        assert!(!truthy(&Json::Null));
        assert!(!truthy(&serde_json::json!("")));
        assert!(!truthy(&serde_json::json!({})));
        assert!(!truthy(&serde_json::json!(0)));
        assert!(truthy(&serde_json::json!("<s>")));
        assert!(truthy(&serde_json::json!({"content": "x"})));
    }
}
