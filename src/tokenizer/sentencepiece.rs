//! SentencePiece `tokenizer.model`: `ModelProto` decoded with prost (the pieces with their score and
//! type, the trainer's model type and the normalizer's dummy-prefix flag), and the
//! vocabulary the pinned converter builds from it (`_create_vocab_sentencepiece`, and Phi-3's own
//! variant of it).

use std::path::Path;

use super::files::TokenizerFiles;
use super::special::does_token_look_special;
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

/// Why a `tokenizer.model` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The bytes are not a well-formed `ModelProto` (prost's decoder: truncation, a wrong wire type,
    /// a bad varint or UTF-8, …).
    #[error("malformed ModelProto: {0}")]
    Decode(#[source] prost::DecodeError),
    /// A piece's `type` is outside sentencepiece_model.proto's `SentencePiece.Type`.
    #[error("piece {index}: unknown piece type {value}")]
    UnknownPieceType {
        /// The piece's id.
        index: usize,
        /// The value found.
        value: i32,
    },
    /// The message decodes but has no pieces.
    #[error("no pieces: not a SentencePiece model")]
    NoPieces,
}

/// The wire schema: the fields of sentencepiece_model.proto (proto2) that conversion reads, with
/// their tags and defaults. Every other field is skipped as unknown, as protobuf does.
mod wire {
    /// `ModelProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        /// `repeated SentencePiece pieces = 1`.
        #[prost(message, repeated, tag = "1")]
        pub pieces: Vec<SentencePiece>,
        /// `optional TrainerSpec trainer_spec = 2`.
        #[prost(message, optional, tag = "2")]
        pub trainer_spec: Option<TrainerSpec>,
        /// `optional NormalizerSpec normalizer_spec = 3`.
        #[prost(message, optional, tag = "3")]
        pub normalizer_spec: Option<NormalizerSpec>,
    }

    /// `ModelProto.SentencePiece`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SentencePiece {
        /// `optional string piece = 1`.
        #[prost(string, optional, tag = "1")]
        pub piece: Option<String>,
        /// `optional float score = 2`.
        #[prost(float, optional, tag = "2")]
        pub score: Option<f32>,
        /// `optional Type type = 3 [default = NORMAL]` (NORMAL = 1).
        #[prost(int32, optional, tag = "3", default = "1")]
        pub r#type: Option<i32>,
    }

    /// `TrainerSpec`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TrainerSpec {
        /// `optional ModelType model_type = 3 [default = UNIGRAM]` (UNIGRAM = 1).
        #[prost(int32, optional, tag = "3", default = "1")]
        pub model_type: Option<i32>,
    }

    /// `NormalizerSpec`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NormalizerSpec {
        /// `optional bool add_dummy_prefix = 3 [default = true]`.
        #[prost(bool, optional, tag = "3", default = "true")]
        pub add_dummy_prefix: Option<bool>,
    }
}

/// Decodes a serialized `ModelProto`. Never panics; every malformation is a [`ProtoError`].
pub fn decode_model(buf: &[u8]) -> Result<SentencePieceModel, ProtoError> {
    let proto = <wire::ModelProto as prost::Message>::decode(buf).map_err(ProtoError::Decode)?;
    if proto.pieces.is_empty() {
        return Err(ProtoError::NoPieces);
    }
    let pieces = proto
        .pieces
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let value = p.r#type();
            let kind = u64::try_from(value).ok().and_then(PieceType::from_proto).ok_or(ProtoError::UnknownPieceType { index, value })?;
            Ok(Piece { piece: p.piece().to_owned(), score: p.score(), kind })
        })
        .collect::<Result<Vec<_>, ProtoError>>()?;
    let model_type = proto.trainer_spec.as_ref().map_or(1, |t| t.model_type());
    let add_dummy_prefix = proto.normalizer_spec.as_ref().is_none_or(|n| n.add_dummy_prefix());
    // A negative model type is not one sentencepiece defines; keep it visible rather than wrap it.
    Ok(SentencePieceModel { pieces, model_type: u64::try_from(model_type).unwrap_or(u64::MAX), add_dummy_prefix })
}

/// Reads and decodes `tokenizer.model`.
pub fn load_model(path: &Path) -> Result<SentencePieceModel, TokenizerError> {
    let bytes = read_file(path)?;
    decode_model(&bytes).map_err(|source| TokenizerError::SentencePiece { path: path.to_path_buf(), source })
}

/// Which added-token rules apply on top of the SentencePiece pieces (the table's
/// [`gguf::arch::SpmAddedTokens`]).
pub use gguf::arch::SpmAddedTokens as Flavor;

/// The SentencePiece vocabulary as the converter writes it: tokens, scores and types, `vocab_size`
/// long (config `vocab_size`, else the number of pieces), ids past the pieces filled with
/// `[PAD{id}]` (score -10000, UNUSED).
pub fn vocab(files: &TokenizerFiles, model: &SentencePieceModel, vocab_size: usize, flavor: Flavor) -> Result<Vocab, TokenizerError> {
    let mut v = Vocab {
        tokens: (0..vocab_size).map(|i| format!("[PAD{i}]")).collect(),
        scores: Some(vec![-10000.0; vocab_size]),
        types: vec![TokenType::Unused; vocab_size],
    };
    for (id, p) in model.pieces.iter().enumerate() {
        if id >= vocab_size {
            if flavor == Flavor::Phi3 {
                return Err(TokenizerError::Invalid {
                    path: files.path("tokenizer.model"),
                    what: format!("{} pieces but config vocab_size is {vocab_size}", model.pieces.len()),
                });
            }
            break; // the converter warns and ignores the rest
        }
        v.set(id, p.piece.clone(), p.score, p.kind.converter_token_type());
    }

    if let Some(json) = files.added_tokens()? {
        let added_path = files.path("added_tokens.json");
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

    let tc = files.tokenizer_config()?;
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
        if let Some(tj) = files.tokenizer_json()? {
            let tj_path = files.path("tokenizer.json");
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
    fn absent_fields_take_the_proto2_defaults() {
        // One piece with only its text; an empty normalizer_spec; no trainer_spec.
        let m = decode_model(&[0x0a, 0x03, 0x0a, 0x01, b'a', 0x1a, 0x00]).unwrap();
        assert_eq!(m.pieces, vec![Piece { piece: "a".into(), score: 0.0, kind: PieceType::Normal }]);
        assert_eq!(m.model_type, 1, "UNIGRAM");
        assert!(m.add_dummy_prefix);
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
        assert!(matches!(e, ProtoError::Decode(_)), "{e}");
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
        assert!(matches!(decode_model(&[0x0a, 0x02, 0x18, 0x09]), Err(ProtoError::UnknownPieceType { index: 0, value: 9 })));
        // Only unknown fields: no pieces.
        assert!(matches!(decode_model(&[0x20, 0x01]), Err(ProtoError::NoPieces)));
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
