//! Linear layers on their stored weights: ggml blocks stay blocks (on the CPU, Q4_K and Q6_K
//! through quantize's own Q8_K dot kernels, the other block types through candle's quantized
//! matmul, both quantizing the activations to Q8 per row as llama.cpp does; on a GPU, a few rows
//! through candle's mat-vec kernels and more through an f16 copy of the matrix made for the
//! multiplication, see [`gemm_via_f16`]), F16/BF16 stay half precision on a GPU, and only what no
//! kernel takes directly is converted to f32. How each stored type is held
//! on a device is one table, [`representation`], used by the loader and by the memory planner.

use crate::error::{Result, ValidateError};
use crate::weights::StoredTensor;
use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use gguf::GgmlType;
use std::borrow::Cow;

/// How a stored matrix is held on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    /// ggml blocks as in the file, multiplied by candle's quantized matmul.
    Blocks(GgmlDType),
    /// ggml blocks as in the file, multiplied by `quantize::dot` (CPU).
    OwnBlocks(GgmlType),
    /// A dense tensor of this dtype (F32, or F16/BF16 kept as stored on a GPU).
    Dense(DType),
}

/// The ggml block types candle's quantized matmul takes (CPU and CUDA), by ggml type.
const CANDLE_BLOCKS: &[(GgmlType, GgmlDType)] = &[
    (GgmlType::Q4_0, GgmlDType::Q4_0),
    (GgmlType::Q4_1, GgmlDType::Q4_1),
    (GgmlType::Q5_0, GgmlDType::Q5_0),
    (GgmlType::Q5_1, GgmlDType::Q5_1),
    (GgmlType::Q8_0, GgmlDType::Q8_0),
    (GgmlType::Q2_K, GgmlDType::Q2K),
    (GgmlType::Q3_K, GgmlDType::Q3K),
    (GgmlType::Q4_K, GgmlDType::Q4K),
    (GgmlType::Q5_K, GgmlDType::Q5K),
    (GgmlType::Q6_K, GgmlDType::Q6K),
];

/// How a matrix stored as `ty` is held on `device`: ggml blocks where candle has a kernel for
/// them; F16/BF16 as stored on a GPU (half-precision matmuls); f32 otherwise (the CPU's fastest
/// dense matmul, and the types without a kernel, e.g. the IQ types).
pub fn representation(ty: GgmlType, device: &Device) -> Representation {
    if device.is_cpu() && quantize::dot::supports(ty) {
        return Representation::OwnBlocks(ty);
    }
    if let Some((_, d)) = CANDLE_BLOCKS.iter().find(|(t, _)| *t == ty) {
        return Representation::Blocks(*d);
    }
    match (ty, device.is_cpu()) {
        (GgmlType::F16, false) => Representation::Dense(DType::F16),
        (GgmlType::BF16, false) => Representation::Dense(DType::BF16),
        _ => Representation::Dense(DType::F32),
    }
}

/// Bytes a matrix of `n_elements` stored as `ty` (`stored_bytes` in the file) takes on `device`.
pub fn device_bytes(ty: GgmlType, n_elements: u64, stored_bytes: u64, device: &Device) -> u64 {
    match representation(ty, device) {
        Representation::Blocks(_) | Representation::OwnBlocks(_) => stored_bytes,
        Representation::Dense(d) => n_elements * d.size_in_bytes() as u64,
    }
}

/// Host bytes of a matrix's stored form (`stored_bytes` in the file) in memory on top of
/// [`device_bytes`] while it is made into a [`Weight`] on the CPU: the file pages of the whole
/// tensor while its blocks are copied, of one slice while it is converted to f32
/// ([`StoredTensor::to_f32_releasing`]); the source drops them after. 0 on a GPU, whose budget
/// is the device's memory.
pub fn transient_bytes(ty: GgmlType, stored_bytes: u64, device: &Device) -> u64 {
    match representation(ty, device) {
        _ if !device.is_cpu() => 0,
        Representation::Dense(_) => stored_bytes.min(crate::weights::CONVERT_SLICE_BYTES as u64),
        Representation::Blocks(_) | Representation::OwnBlocks(_) => stored_bytes,
    }
}

/// A weight matrix `[out, in]` on a device.
#[derive(Debug, Clone)]
pub enum Weight {
    /// Dense, f32 or half precision.
    Dense(Tensor),
    /// ggml blocks.
    Blocks(QMatMul),
    /// ggml blocks `[out, in]` of a type `quantize::dot` multiplies (CPU).
    OwnBlocks {
        /// The block type.
        ty: GgmlType,
        /// The rows' blocks, as in the file.
        data: std::sync::Arc<[u8]>,
        /// Rows.
        out: usize,
        /// Elements per row.
        inp: usize,
    },
}

impl Weight {
    /// Puts a stored matrix on `device` in its [`representation`].
    pub fn from_stored(t: &StoredTensor<'_>, device: &Device) -> Result<Weight> {
        Weight::from_stored_releasing(t, device, &|_| {})
    }

    /// [`Weight::from_stored`], handing each slice of `t`'s bytes to `release` once it is
    /// converted to f32 (where the representation is a converted copy; see
    /// [`StoredTensor::to_f32_releasing`]).
    pub fn from_stored_releasing(t: &StoredTensor<'_>, device: &Device, release: &dyn Fn(&[u8])) -> Result<Weight> {
        let [out, inp] = t.shape[..] else {
            return Err(ValidateError::BadTensor {
                source_name: String::new(),
                tensor: t.name.clone(),
                expected: "a matrix".into(),
                found: format!("shape {:?}", t.shape),
            });
        };
        let repr = representation(t.ty, device);
        if matches!(repr, Representation::Blocks(_) | Representation::OwnBlocks(_)) {
            let expected = out as u64 * t.ty.row_size(inp as u64).unwrap_or(u64::MAX);
            if t.bytes.len() as u64 != expected {
                return Err(ValidateError::BadTensor {
                    source_name: String::new(),
                    tensor: t.name.clone(),
                    expected: format!("{expected} bytes of {} blocks", t.ty.name()),
                    found: format!("{} bytes", t.bytes.len()),
                });
            }
        }
        Ok(match repr {
            Representation::OwnBlocks(ty) => Weight::OwnBlocks { ty, data: t.bytes.into(), out, inp },
            Representation::Blocks(d) => {
                // candle reads the blocks in place: they must be aligned like its block structs
                // (GGUF data is aligned to 32; a sub-range of a fused tensor may not be).
                let data =
                    if (t.bytes.as_ptr() as usize).is_multiple_of(8) { Cow::Borrowed(t.bytes) } else { Cow::Owned(t.bytes.to_vec()) };
                let storage = QStorage::from_data(data, device, d)?;
                Weight::Blocks(QMatMul::QTensor(std::sync::Arc::new(QTensor::new(storage, (out, inp))?)))
            }
            Representation::Dense(DType::F32) => Weight::Dense(Tensor::from_vec(t.to_f32_releasing(release)?, (out, inp), device)?),
            Representation::Dense(d) => Weight::Dense(Tensor::from_raw_buffer(t.bytes, d, &[out, inp], device)?),
        })
    }

    /// `x · Wᵀ` for `x` `[rows, in]` (f32); f32 result.
    pub fn matmul_t(&self, x: &Tensor) -> Result<Tensor> {
        self.matmul_input(&Input::new(x))
    }

    /// `x · Wᵀ` for the input `x` `[rows, in]` (f32) that other matrices may share; f32 result.
    pub fn matmul_input(&self, input: &Input<'_>) -> Result<Tensor> {
        let x = input.x;
        Ok(match self {
            Weight::Dense(w) if w.dtype() == DType::F32 => x.matmul(&w.t()?)?,
            Weight::Dense(w) => x.to_dtype(w.dtype())?.matmul(&w.t()?)?.to_dtype(DType::F32)?,
            Weight::Blocks(q) => {
                let x = x.contiguous()?;
                if gemm_via_f16(&x) {
                    q.forward_via_f16(&x)?
                } else {
                    q.forward(&x)?
                }
            }
            Weight::OwnBlocks { ty, data, out, inp } => {
                let mut dims = x.dims().to_vec();
                let rows = x.elem_count() / inp;
                let y = quantize::dot::matmul(*ty, data, *out, *inp, input.q8_k(*inp)?, rows);
                if let Some(last) = dims.last_mut() {
                    *last = *out;
                }
                Tensor::from_vec(y, dims, x.device())?
            }
        })
    }
}

/// The input `x` of one or more matrices (Q, K and V read the same one; gate and up theirs): on
/// the CPU, its rows are quantized to Q8_K once, by the first matrix of [`Weight::OwnBlocks`] that
/// multiplies it, and the others reuse them (each row's Q8_K depends on that row alone, so every
/// product is what a quantization of its own would give).
pub struct Input<'t> {
    x: &'t Tensor,
    /// Q8_K rows of `x` and the row length they were made for.
    q8_k: std::cell::OnceCell<(usize, Vec<u8>)>,
}

impl<'t> Input<'t> {
    /// The input `x` `[.., in]`, not quantized yet.
    pub fn new(x: &'t Tensor) -> Input<'t> {
        Input { x, q8_k: std::cell::OnceCell::new() }
    }

    /// The tensor.
    pub fn tensor(&self) -> &'t Tensor {
        self.x
    }

    /// `x`'s rows of `inp` elements as Q8_K (made on the first call; its f32 values read in place
    /// when `x` is contiguous on the CPU, copied to the host otherwise).
    fn q8_k(&self, inp: usize) -> Result<&[u8]> {
        if let Some((k, q)) = self.q8_k.get() {
            if *k == inp {
                return Ok(q);
            }
            return Err(ValidateError::Batch { message: format!("one input multiplied by rows of {k} and of {inp} elements") });
        }
        let q = match crate::cpu_ops::with_cpu_f32(self.x, |xs| quantize::dot::quantize_q8_k(xs, inp)) {
            Some(q) => q,
            None => quantize::dot::quantize_q8_k(&self.x.flatten_all()?.to_vec1::<f32>()?, inp),
        };
        Ok(&self.q8_k.get_or_init(|| (inp, q)).1)
    }
}

/// Activation rows above which candle's quantized matmul stops using its mat-vec kernels
/// (`QCudaStorage::fwd`): from there on a GPU multiplies blocks by [`gemm_via_f16`]'s rule.
const MATVEC_MAX_ROWS: usize = 8;

/// Whether `x · Wᵀ` of a block matrix W is computed by dequantizing W to f16 (a temporary of the
/// matrix's size) and one cuBLAS f16 GEMM, instead of candle's `mul_mat_q*` kernels, which
/// quantize the activations to Q8_1 as llama.cpp's MMQ does but on the CUDA cores (dp4a), not on
/// the tensor cores. True on a GPU for more than [`MATVEC_MAX_ROWS`] rows, unless
/// `GGUFKIT_CUDA_QMATMUL=q8` asks for candle's kernels (llama.cpp's rounding of the activations,
/// 2.3–2.9x slower on an H200: docs/measurements/gpu-validate-7b-h200.md). This is the path
/// llama.cpp takes itself when it does not use MMQ (`ggml_cuda_mul_mat_cublas`: for quantized
/// weights on a GPU with fast f16, weights and activations converted to f16).
fn gemm_via_f16(x: &Tensor) -> bool {
    static Q8: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let rows = x.dims().iter().rev().skip(1).product::<usize>();
    !x.device().is_cpu() && rows > MATVEC_MAX_ROWS && !*Q8.get_or_init(|| std::env::var("GGUFKIT_CUDA_QMATMUL").is_ok_and(|v| v == "q8"))
}

/// Bytes of the temporary a block matrix of `n_elements` stored as `ty` needs on `device` while
/// it is multiplied (its f16 copy, see [`gemm_via_f16`]); 0 where blocks are multiplied in place.
pub fn matmul_scratch_bytes(ty: GgmlType, n_elements: u64, device: &Device) -> u64 {
    match representation(ty, device) {
        Representation::Blocks(_) if !device.is_cpu() => n_elements * 2,
        _ => 0,
    }
}

/// A linear layer `y = x · Wᵀ + b`, W is `[out, in]`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Weight `[out, in]`.
    pub weight: Weight,
    /// Optional bias `[out]`.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// Applies the layer to `x` `[rows, in]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_input(&Input::new(x))
    }

    /// Applies the layer to an input that other layers may share ([`Input`]).
    pub fn forward_input(&self, x: &Input<'_>) -> Result<Tensor> {
        let y = self.weight.matmul_input(x)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_ops::tests::{bits, values};
    use quantize::blocks::{q4_k, q6_k};

    /// `out` random rows of `inp` weights as `ty` blocks, by quantize's own quantizers.
    fn own_blocks(ty: GgmlType, out: usize, inp: usize, seed: u64) -> Weight {
        type Quantizer = fn(&[f32], &mut [u8]);
        let (bytes, quantize): (usize, Quantizer) =
            if ty == GgmlType::Q4_K { (q4_k::BYTES, q4_k::quantize_block) } else { (q6_k::BYTES, q6_k::quantize_block) };
        let x = values(out * inp, seed, 2.0);
        let mut data = vec![0u8; out * inp / 256 * bytes];
        for (xb, yb) in x.chunks_exact(256).zip(data.chunks_exact_mut(bytes)) {
            quantize(xb, yb);
        }
        Weight::OwnBlocks { ty, data: data.into(), out, inp }
    }

    /// Matrices that share one [`Input`] (its Q8_K rows made once) give what each gives on its
    /// own: quantize::dot::matmul of that input's own Q8_K rows; for a contiguous input (read in
    /// place) and a strided one (copied to the host).
    #[test]
    fn matrices_sharing_an_input_give_their_own_products() {
        let (rows, inp) = (5, 512);
        let weights =
            [own_blocks(GgmlType::Q4_K, 24, inp, 1), own_blocks(GgmlType::Q6_K, 8, inp, 2), own_blocks(GgmlType::Q4_K, 16, inp, 3)];
        let x = Tensor::from_vec(values(rows * inp, 4, 2.0), (rows, inp), &Device::Cpu).unwrap();
        let strided = x.t().unwrap().contiguous().unwrap().t().unwrap();
        assert!(!strided.is_contiguous());
        for x in [&x, &strided] {
            let input = Input::new(x);
            let q8 = quantize::dot::quantize_q8_k(&x.flatten_all().unwrap().to_vec1::<f32>().unwrap(), inp);
            for w in &weights {
                let Weight::OwnBlocks { ty, data, out, .. } = w else { unreachable!() };
                let own = quantize::dot::matmul(*ty, data, *out, inp, &q8, rows);
                let shared = w.matmul_input(&input).unwrap();
                assert_eq!(shared.dims(), [rows, *out]);
                assert_eq!(bits(&shared), own.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            }
        }
    }
}
