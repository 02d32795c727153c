//! GGUF metadata values: the 13 value types of the format and a typed value.

/// The type id of a metadata value, as stored in the file (`enum gguf_type` in ggml's `gguf.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ValueType {
    Uint8 = 0,
    Int8 = 1,
    Uint16 = 2,
    Int16 = 3,
    Uint32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    Uint64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// Every value type with its id, gguf-py name and, for fixed-size types, byte size. Declared once.
const VALUE_TYPES: [(ValueType, &str, Option<usize>); 13] = [
    (ValueType::Uint8, "UINT8", Some(1)),
    (ValueType::Int8, "INT8", Some(1)),
    (ValueType::Uint16, "UINT16", Some(2)),
    (ValueType::Int16, "INT16", Some(2)),
    (ValueType::Uint32, "UINT32", Some(4)),
    (ValueType::Int32, "INT32", Some(4)),
    (ValueType::Float32, "FLOAT32", Some(4)),
    (ValueType::Bool, "BOOL", Some(1)),
    (ValueType::String, "STRING", None),
    (ValueType::Array, "ARRAY", None),
    (ValueType::Uint64, "UINT64", Some(8)),
    (ValueType::Int64, "INT64", Some(8)),
    (ValueType::Float64, "FLOAT64", Some(8)),
];

impl ValueType {
    /// The type with this on-disk id, or `None` for an id the format does not define.
    pub fn from_id(id: u32) -> Option<ValueType> {
        VALUE_TYPES.get(id as usize).map(|r| r.0)
    }

    /// The on-disk id.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// The name gguf-py uses (`GGUFValueType` member name): `"UINT32"`, `"STRING"`, ….
    pub fn name(self) -> &'static str {
        VALUE_TYPES[self as usize].1
    }

    /// Bytes of one value of a fixed-size type; `None` for strings and arrays.
    pub fn fixed_size(self) -> Option<usize> {
        VALUE_TYPES[self as usize].2
    }

    /// The fewest bytes one value of this type takes in a file: its fixed size, 8 for a string
    /// (the length), 12 for an array (element type and count). Used to bound counts before
    /// allocating.
    pub fn min_encoded_size(self) -> usize {
        match self {
            ValueType::String => 8,
            ValueType::Array => 12,
            other => other.fixed_size().unwrap_or(1),
        }
    }
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A metadata value.
///
/// An array holds its element type and elements; every element must be of that type (arrays of
/// arrays are allowed by the format and may mix inner element types).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(ValueType, Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// This value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::Uint8,
            Value::I8(_) => ValueType::Int8,
            Value::U16(_) => ValueType::Uint16,
            Value::I16(_) => ValueType::Int16,
            Value::U32(_) => ValueType::Uint32,
            Value::I32(_) => ValueType::Int32,
            Value::F32(_) => ValueType::Float32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(..) => ValueType::Array,
            Value::U64(_) => ValueType::Uint64,
            Value::I64(_) => ValueType::Int64,
            Value::F64(_) => ValueType::Float64,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Any integer value as `i128` (lossless for every integer type).
    fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v.into(),
            Value::I8(v) => v.into(),
            Value::U16(v) => v.into(),
            Value::I16(v) => v.into(),
            Value::U32(v) => v.into(),
            Value::I32(v) => v.into(),
            Value::U64(v) => v.into(),
            Value::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// Any integer value that fits in `u32` (lenient: `general.file_type` is written as u32 by
    /// llama.cpp but other writers use other integer types).
    pub fn as_u32(&self) -> Option<u32> {
        self.as_i128().and_then(|v| u32::try_from(v).ok())
    }

    /// Any integer value that fits in `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_i128().and_then(|v| u64::try_from(v).ok())
    }

    /// Any integer value that fits in `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_i128().and_then(|v| i64::try_from(v).ok())
    }

    /// A float value (`F32`, or `F64` rounded to `f32`).
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Value::F32(v) => Some(v),
            Value::F64(v) => Some(v as f32),
            _ => None,
        }
    }

    /// A float value as `f64` (`F32` widened, or `F64`).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The boolean, if this is a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(_, items) => Some(items),
            _ => None,
        }
    }

    /// The element type, if this is an array.
    pub fn array_type(&self) -> Option<ValueType> {
        match self {
            Value::Array(t, _) => Some(*t),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

macro_rules! value_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Value {
            fn from(x: $t) -> Value { Value::$v(x) }
        }
    )*};
}
value_from!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, f32 => F32,
    bool => Bool, u64 => U64, i64 => I64, f64 => F64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for id in 0..13 {
            let t = ValueType::from_id(id).expect("defined");
            assert_eq!(t.id(), id);
        }
        assert_eq!(ValueType::from_id(13), None);
    }

    #[test]
    fn lenient_integers() {
        assert_eq!(Value::I32(7).as_u32(), Some(7));
        assert_eq!(Value::I32(-1).as_u32(), None);
        assert_eq!(Value::U64(u64::MAX).as_i64(), None);
        assert_eq!(Value::U8(3).as_u64(), Some(3));
        assert_eq!(Value::F32(1.0).as_u32(), None);
    }
}
