//! Choosing the compute device.

use crate::error::{Result, ValidateError};
use candle_core::Device;

/// The device named `cpu` or `cuda` (`cuda:N` for another GPU).
pub fn select(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        n if n == "cuda" || n.starts_with("cuda:") => {
            let ordinal: usize = match n.strip_prefix("cuda:") {
                Some(i) => i.parse().map_err(|_| ValidateError::Device { device: n.into(), message: "bad GPU index".into() })?,
                None => 0,
            };
            cuda(n, ordinal)
        }
        other => Err(ValidateError::Device { device: other.into(), message: "unknown device (use cpu or cuda)".into() }),
    }
}

#[cfg(feature = "cuda")]
fn cuda(name: &str, ordinal: usize) -> Result<Device> {
    Device::new_cuda(ordinal).map_err(|e| ValidateError::Device { device: name.into(), message: format!("no usable NVIDIA GPU: {e}") })
}

#[cfg(not(feature = "cuda"))]
fn cuda(name: &str, _ordinal: usize) -> Result<Device> {
    Err(ValidateError::Device {
        device: name.into(),
        message: "this ggufkit was built without CUDA support; rebuild with --features cuda (scripts/build-cuda.sh)".into(),
    })
}

/// candle's CUDA kernel modules that the forward pass uses (candle ships them as PTX).
#[cfg(feature = "cuda")]
const KERNEL_MODULES: &[(&str, &candle_core::cuda::kernels::Module)] = {
    use candle_core::cuda::kernels as k;
    &[
        ("affine", &k::AFFINE),
        ("binary", &k::BINARY),
        ("cast", &k::CAST),
        ("fill", &k::FILL),
        ("indexing", &k::INDEXING),
        ("quantized", &k::QUANTIZED),
        ("reduce", &k::REDUCE),
        ("ternary", &k::TERNARY),
        ("unary", &k::UNARY),
    ]
};

/// Loads candle's kernel modules on `device` before any evaluation is timed, and returns the
/// seconds it took (0 on the CPU).
///
/// candle ships its CUDA kernels as PTX, which the driver compiles for the GPU the first time a
/// module is loaded and keeps in its compute cache (`~/.nv/ComputeCache`, `CUDA_CACHE_PATH`).
/// Without this, the first evaluation of a run paid that compilation inside its timing: on an
/// H200 with an empty cache about 29 s, which made the first model of a run look 8–10 times
/// slower than the next (docs/measurements/gpu-validate-7b-h200.md). With the cache filled,
/// loading takes well under a second.
pub fn load_kernels(device: &Device) -> Result<f64> {
    load_kernels_on(device)
}

#[cfg(feature = "cuda")]
fn load_kernels_on(device: &Device) -> Result<f64> {
    let Device::Cuda(d) = device else { return Ok(0.0) };
    let t0 = std::time::Instant::now();
    for (name, module) in KERNEL_MODULES {
        // Any one function of a module loads (and compiles) the whole module.
        let entry = first_entry(module.ptx()).ok_or_else(|| ValidateError::Device {
            device: format!("{device:?}"),
            message: format!("candle's {name} kernel module has no .entry"),
        })?;
        d.get_or_load_func(entry, module).map_err(|e| ValidateError::Device {
            device: format!("{device:?}"),
            message: format!("loading candle's {name} kernels: {e}"),
        })?;
    }
    Ok(t0.elapsed().as_secs_f64())
}

#[cfg(not(feature = "cuda"))]
fn load_kernels_on(_device: &Device) -> Result<f64> {
    Ok(0.0)
}

/// The name of the first kernel (`.entry NAME(`) of a PTX module.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))] // used by the CUDA build and the tests
fn first_entry(ptx: &str) -> Option<&str> {
    let rest = &ptx[ptx.find(".entry ")? + ".entry ".len()..];
    let name = rest[..rest.find('(')?].trim();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_entry_of_ptx() {
        let ptx = ".version 8.0\n.target sm_90\n\t// .globl\taffine_f32\n.visible .entry affine_f32(\n\t.param .u64 a\n)\n{\n}\n.visible .entry affine_f16(\n)";
        assert_eq!(first_entry(ptx), Some("affine_f32"));
        assert_eq!(first_entry(".version 8.0\n"), None);
        assert_eq!(select("cpu").ok().map(|d| load_kernels(&d).ok()), Some(Some(0.0)));
    }
}
