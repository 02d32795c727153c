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
