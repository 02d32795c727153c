//! SentencePiece `tokenizer.model`: a small protobuf wire decoder for `ModelProto` (the pieces with
//! their score and type, the trainer's model type and the normalizer's dummy-prefix flag), and the
//! vocabulary the pinned converter builds from it (`_create_vocab_sentencepiece`, and Phi-3's own
//! variant of it).

use std::path::Path;

use super::special::{does_token_look_special, TokenizerConfig};
use super::{read_file, TokenType, TokenizerError, Vocab};

/// The type of a piece in `ModelProto.pieces` (sentencepiece_model.proto `SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Byte,
    Unused,
}

impl PieceType {
    /// The protobuf enum value → type (sentencepiece_model.proto numbering).
    fn from_proto(v: u64) -> Option<PieceType> {
        Some(match v {
            1 => PieceType::Normal,
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            _ => return None,
        })
    }

    /// The GGUF token type the converter assigns: `SentencePieceProcessor.IsUnknown/IsControl/
    /// IsUnused/IsByte`, else NORMAL (so a USER_DEFINED piece of the model stays NORMAL).
    fn converter_token_type(self) -> TokenType {
        match self {
            PieceType::Unknown => TokenType::Unknown,
            PieceType::Control => TokenType::Control,
            PieceType::Unused => TokenType::Unused,
            PieceType::Byte => TokenType::Byte,
            PieceType::Normal | PieceType::UserDefined => TokenType::Normal,
        }
    }
}

/// One `ModelProto.pieces` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// `piece` (field 1).
    pub piece: String,
    /// `score` (field 2, default 0).
    pub score: f32,
    /// `type` (field 3, default NORMAL).
    pub kind: PieceType,
}

/// The parts of a SentencePiece `ModelProto` that conversion uses.
#[derive(Debug, Clone, PartialEq)]
pub struct SentencePieceModel {
    /// The pieces, in id order.
    pub pieces: Vec<Piece>,
    /// `trainer_spec.model_type` (1 = UNIGRAM, 2 = BPE, 3 = WORD, 4 = CHAR), default UNIGRAM.
    pub model_type: u64,
    /// `normalizer_spec.add_dummy_prefix`, default true.
    pub add_dummy_prefix: bool,
}

/// A decoding error: what went wrong at which byte offset of the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {offset}")]
pub struct ProtoError {
    /// Description of the problem.
    pub what: String,
    /// Offset in the (sub)message being decoded.
    pub offset: usize,
}

fn proto_err(what: impl Into<String>, offset: usize) -> ProtoError {
    ProtoError { what: what.into(), offset }
}

/// A protobuf field value as read from the wire.
enum Field<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Reads one protobuf message's fields in order (wire types 0, 1, 2 and 5; groups are refused).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(proto_err("truncated varint", start));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(proto_err("varint longer than 64 bits", start));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(proto_err("varint longer than 10 bytes", start))
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], ProtoError> {
        let start = self.pos;
        let end =
            usize::try_from(n).ok().and_then(|n| start.checked_add(n)).filter(|&e| e <= self.buf.len()).ok_or_else(|| {
                proto_err(format!("{what} of {n} bytes runs past the end ({} bytes left)", self.buf.len() - start), start)
            })?;
        self.pos = end;
        Ok(&self.buf[start..end])
    }

    /// The next (field number, value, offset of its key), or None at the end of the message.
    fn next(&mut self) -> Result<Option<(u64, Field<'a>, usize)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 {
            return Err(proto_err("field number 0", at));
        }
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                let b = self.take(8, "fixed64")?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let _ = u64::from_le_bytes(a);
                Field::Fixed64
            }
            2 => {
                let n = self.varint()?;
                Field::Bytes(self.take(n, "length-delimited field")?)
            }
            5 => {
                let b = self.take(4, "fixed32")?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Field::Fixed32(u32::from_le_bytes(a))
            }
            w => return Err(proto_err(format!("unsupported wire type {w} (field {number})"), at)),
        };
        Ok(Some((number, field, at)))
    }
}

fn wrong_wire(field: &str, at: usize) -> ProtoError {
    proto_err(format!("field {field} has the wrong wire type"), at)
}

fn decode_piece(buf: &[u8]) -> Result<Piece, ProtoError> {
    let mut r = Reader::new(buf);
    let mut piece = Piece { piece: String::new(), score: 0.0, kind: PieceType::Normal };
    while let Some((number, field, at)) = r.next()? {
        match (number, field) {
            (1, Field::Bytes(b)) => {
                piece.piece = std::str::from_utf8(b).map_err(|_| proto_err("piece is not valid UTF-8", at))?.to_owned();
            }
            (2, Field::Fixed32(bits)) => piece.score = f32::from_bits(bits),
            (3, Field::Varint(v)) => {
                piece.kind = PieceType::from_proto(v).ok_or_else(|| proto_err(format!("unknown piece type {v}"), at))?;
            }
            (1, _) => return Err(wrong_wire("SentencePiece.piece", at)),
            (2, _) => return Err(wrong_wire("SentencePiece.score", at)),
            (3, _) => return Err(wrong_wire("SentencePiece.type", at)),
            _ => {} // unknown fields are skipped, as protobuf does
        }
    }
    Ok(piece)
}

/// Decodes a serialized `ModelProto`. Never panics; every malformation is a [`ProtoError`].
pub fn decode_model(buf: &[u8]) -> Result<SentencePieceModel, ProtoError> {
    let mut r = Reader::new(buf);
    let mut model = SentencePieceModel { pieces: Vec::new(), model_type: 1, add_dummy_prefix: true };
    while let Some((number, field, at)) = r.next()? {
        match (number, field) {
            (1, Field::Bytes(b)) => {
                let p = decode_piece(b).map_err(|e| proto_err(format!("piece {}: {}", model.pieces.len(), e.what), at + e.offset))?;
                model.pieces.push(p);
            }
            (2, Field::Bytes(b)) => {
                // TrainerSpec: model_type is field 3 (enum).
                let mut t = Reader::new(b);
                while let Some((n, f, _)) = t.next().map_err(|e| proto_err(format!("trainer_spec: {}", e.what), at))? {
                    if let (3, Field::Varint(v)) = (n, f) {
                        model.model_type = v;
                    }
                }
            }
            (3, Field::Bytes(b)) => {
                // NormalizerSpec: add_dummy_prefix is field 3 (bool).
                let mut t = Reader::new(b);
                while let Some((n, f, _)) = t.next().map_err(|e| proto_err(format!("normalizer_spec: {}", e.what), at))? {
                    if let (3, Field::Varint(v)) = (n, f) {
                        model.add_dummy_prefix = v != 0;
                    }
                }
            }
            (1..=3, _) => return Err(wrong_wire("ModelProto.pieces/trainer_spec/normalizer_spec", at)),
            (_, Field::Varint(_) | Field::Fixed64 | Field::Bytes(_) | Field::Fixed32(_)) => {}
        }
    }
    if model.pieces.is_empty() {
        return Err(proto_err("no pieces: not a SentencePiece model", 0));
    }
    Ok(model)
}

/// Reads and decodes `tokenizer.model`.
pub fn load_model(path: &Path) -> Result<SentencePieceModel, TokenizerError> {
    let bytes = read_file(path)?;
    decode_model(&bytes).map_err(|source| TokenizerError::SentencePiece { path: path.to_path_buf(), source })
}

/// Which added-token rules apply on top of the SentencePiece pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `TextModel._create_vocab_sentencepiece` (llama, gemma, gemma2, …): added_tokens.json and
    /// tokenizer_config.json `added_tokens_decoder`; out-of-range ids ignored; "looks special" →
    /// CONTROL; `▁` → space in user-defined tokens.
    Default,
    /// `Phi3MiniModel.set_vocab`: added_tokens.json, tokenizer_config.json
    /// `added_tokens_decoder` and tokenizer.json `added_tokens`; `special` → CONTROL only.
    Phi3,
}

/// The SentencePiece vocabulary as the converter writes it: tokens, scores and types, `vocab_size`
/// long (config `vocab_size`, else the number of pieces), ids past the pieces filled with
/// `[PAD{id}]` (score -10000, UNUSED).
pub fn vocab(model_dir: &Path, model: &SentencePieceModel, vocab_size: usize, flavor: Flavor) -> Result<Vocab, TokenizerError> {
    let mut v = Vocab {
        tokens: (0..vocab_size).map(|i| format!("[PAD{i}]")).collect(),
        scores: Some(vec![-10000.0; vocab_size]),
        types: vec![TokenType::Unused; vocab_size],
    };
    for (id, p) in model.pieces.iter().enumerate() {
        if id >= vocab_size {
            if flavor == Flavor::Phi3 {
                return Err(TokenizerError::Invalid {
                    path: model_dir.join("tokenizer.model"),
                    what: format!("{} pieces but config vocab_size is {vocab_size}", model.pieces.len()),
                });
            }
            break; // the converter warns and ignores the rest
        }
        v.set(id, p.piece.clone(), p.score, p.kind.converter_token_type());
    }

    let added_path = model_dir.join("added_tokens.json");
    if added_path.is_file() {
        let json = super::read_json(&added_path)?;
        let obj = json
            .as_object()
            .ok_or_else(|| TokenizerError::Invalid { path: added_path.clone(), what: "expected an object {token: id}".into() })?;
        for (content, id) in obj {
            let id = json_id(id).ok_or_else(|| TokenizerError::Invalid {
                path: added_path.clone(),
                what: format!("id of {content:?} is not a non-negative integer: {id}"),
            })?;
            if id >= vocab_size {
                if flavor == Flavor::Phi3 {
                    continue; // logged at debug level, ignored
                }
                continue;
            }
            v.set(id, content.clone(), -1000.0, TokenType::UserDefined);
        }
    }

    let tc = TokenizerConfig::load(model_dir)?;
    if let Some(decoder) = tc.json.as_ref().and_then(|j| j.get("added_tokens_decoder")).and_then(|d| d.as_object()) {
        for (key, data) in decoder {
            let id: usize = key.parse().map_err(|_| TokenizerError::Invalid {
                path: tc.path.clone(),
                what: format!("added_tokens_decoder key {key:?} is not a token id"),
            })?;
            let content = data.get("content").and_then(|c| c.as_str()).ok_or_else(|| TokenizerError::Invalid {
                path: tc.path.clone(),
                what: format!("added_tokens_decoder[{key}] has no string \"content\""),
            })?;
            let special = data.get("special").is_some_and(super::special::truthy);
            apply_added(&mut v, id, content, special, flavor, &tc.path)?;
        }
    }

    if flavor == Flavor::Phi3 {
        let tj_path = model_dir.join("tokenizer.json");
        if tj_path.is_file() {
            let tj = super::read_json(&tj_path)?;
            if let Some(list) = tj.get("added_tokens").and_then(|a| a.as_array()) {
                for (i, data) in list.iter().enumerate() {
                    let id = data.get("id").and_then(json_id).ok_or_else(|| TokenizerError::Invalid {
                        path: tj_path.clone(),
                        what: format!("added_tokens[{i}] has no valid \"id\""),
                    })?;
                    let content = data.get("content").and_then(|c| c.as_str()).ok_or_else(|| TokenizerError::Invalid {
                        path: tj_path.clone(),
                        what: format!("added_tokens[{i}] has no string \"content\""),
                    })?;
                    let special = data.get("special").is_some_and(super::special::truthy);
                    apply_added(&mut v, id, content, special, flavor, &tj_path)?;
                }
            }
        }
    }
    Ok(v)
}

/// One added token over the pieces, with the flavor's rules.
fn apply_added(v: &mut Vocab, id: usize, content: &str, special: bool, flavor: Flavor, path: &Path) -> Result<(), TokenizerError> {
    if id >= v.tokens.len() {
        return match flavor {
            Flavor::Default => Ok(()), // warned and ignored by the converter
            Flavor::Phi3 => Err(TokenizerError::Invalid {
                path: path.to_path_buf(),
                what: format!("added token {content:?} has id {id}, past the vocabulary size {}", v.tokens.len()),
            }),
        };
    }
    let (text, ty) = match flavor {
        Flavor::Default if special || does_token_look_special(content) => (content.to_owned(), TokenType::Control),
        Flavor::Default => (content.replace('\u{2581}', " "), TokenType::UserDefined),
        Flavor::Phi3 if special => (content.to_owned(), TokenType::Control),
        Flavor::Phi3 => (content.to_owned(), TokenType::UserDefined),
    };
    v.set(id, text, -1000.0, ty);
    Ok(())
}

/// A JSON token id: a non-negative integer.
pub(crate) fn json_id(v: &serde_json::Value) -> Option<usize> {
    v.as_u64().and_then(|n| usize::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn piece(text: &str, score: f32, ty: u64) -> Vec<u8> {
        let mut p = vec![0x0a];
        varint(text.len() as u64, &mut p);
        p.extend_from_slice(text.as_bytes());
        p.push(0x15);
        p.extend_from_slice(&score.to_le_bytes());
        p.push(0x18);
        varint(ty, &mut p);
        let mut m = vec![0x0a];
        varint(p.len() as u64, &mut m);
        m.extend(p);
        m
    }

    fn sample() -> Vec<u8> {
        let mut m = piece("<unk>", 0.0, 2);
        m.extend(piece("<s>", 0.0, 3));
        m.extend(piece("\u{2581}the", -1.5, 1));
        m.extend(piece("<0x0A>", 0.0, 6));
        // trainer_spec { model_type: BPE }, normalizer_spec { add_dummy_prefix: false }
        m.extend([0x12, 0x02, 0x18, 0x02, 0x1a, 0x02, 0x18, 0x00]);
        m
    }

    #[test]
    fn decodes_pieces_and_specs() {
        let m = decode_model(&sample()).unwrap();
        assert_eq!(m.pieces.len(), 4);
        assert_eq!(m.pieces[0], Piece { piece: "<unk>".into(), score: 0.0, kind: PieceType::Unknown });
        assert_eq!(m.pieces[2].piece, "\u{2581}the");
        assert_eq!(m.pieces[2].score, -1.5);
        assert_eq!(m.pieces[3].kind, PieceType::Byte);
        assert_eq!(m.model_type, 2);
        assert!(!m.add_dummy_prefix);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = sample();
        for n in 0..full.len() {
            // Some prefixes end on a field boundary and decode fine; none may panic.
            let _ = decode_model(&full[..n]);
        }
        assert!(decode_model(&full[..full.len() - 1]).is_err());
        assert!(decode_model(&[]).is_err());
    }

    #[test]
    fn malformed_inputs_are_errors() {
        // Length prefix far past the end.
        let e = decode_model(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).unwrap_err();
        assert!(e.what.contains("runs past the end"), "{e}");
        // Varint that never ends.
        assert!(decode_model(&[0x08; 11]).is_err());
        assert!(decode_model(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_err());
        // Group wire type.
        assert!(decode_model(&[0x0b]).is_err());
        // Field number 0.
        assert!(decode_model(&[0x00, 0x00]).is_err());
        // Pieces field with varint wire type.
        assert!(decode_model(&[0x08, 0x01]).is_err());
        // Invalid UTF-8 in a piece.
        assert!(decode_model(&[0x0a, 0x03, 0x0a, 0x01, 0xff]).is_err());
        // Unknown piece type.
        assert!(decode_model(&[0x0a, 0x02, 0x18, 0x09]).is_err());
        // Only unknown fields: no pieces.
        assert!(decode_model(&[0x20, 0x01]).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        // xorshift: deterministic pseudo-random inputs, with and without a valid prefix.
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let base = sample();
        for round in 0..4000 {
            let len = round % 97;
            let mut buf = if round % 2 == 0 { base[..base.len().min(round % base.len())].to_vec() } else { Vec::new() };
            for _ in 0..len {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                buf.push(s as u8);
            }
            let _ = decode_model(&buf);
        }
    }
}
