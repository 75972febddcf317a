//! Choosing the Candle device once, at the edge.

use crate::spec::DeviceChoice;
use crate::{Result, TrainError};
use candle_core::Device;

/// The Candle device for a choice. `cuda` in a build without the `cuda` feature is an error
/// that says how to get one; `auto` falls back to the CPU.
pub fn resolve_device(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => {
            if cfg!(feature = "cuda") && candle_core::utils::cuda_is_available() {
                Ok(Device::new_cuda(0).unwrap_or(Device::Cpu))
            } else {
                Ok(Device::Cpu)
            }
        }
        DeviceChoice::Cuda(n) => {
            if !cfg!(feature = "cuda") {
                return Err(TrainError::Invalid(format!(
                    "--device cuda:{n}: this build of Cairn has no CUDA support; rebuild with `{}` on a machine with the CUDA toolkit (docs/gpu.md), or use --device cpu",
                    crate::devices::CUDA_REBUILD_COMMAND
                )));
            }
            Device::new_cuda(n).map_err(|e| {
                TrainError::Invalid(format!(
                    "--device cuda:{n}: the GPU could not be opened ({e}); `cairn devices` lists the GPUs this machine has"
                ))
            })
        }
    }
}

/// `cpu` or `cuda:N`.
pub fn describe(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}
