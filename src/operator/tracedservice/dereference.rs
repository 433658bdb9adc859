//! Reads what the spec depends on outside itself before anything is built.

use k8s_openapi::api::storage::v1::CSIDriver;
use kube::{Api, Client};

use crate::api::TracedService;
use crate::api::tracedservice::OssMode;
use crate::operator::error::Error;
use crate::resources::tracedservice::oss_csi::OSS_CSI_DRIVER;

/// What the cluster offers for this TracedService.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dereferenced {
    /// Whether a mount needs the OSS CSI driver and the cluster lacks it.
    pub oss_csi_driver_missing: bool,
}

/// Looks up the OSS CSI driver when a mount needs it.
pub async fn dereference(client: &Client, ts: &TracedService) -> Result<Dereferenced, Error> {
    let needs_csi = ts
        .spec
        .mounts
        .iter()
        .any(|m| m.oss.as_ref().is_some_and(|o| o.mode == OssMode::Csi));
    if !needs_csi {
        return Ok(Dereferenced {
            oss_csi_driver_missing: false,
        });
    }
    let drivers: Api<CSIDriver> = Api::all(client.clone());
    let driver = drivers
        .get_opt(OSS_CSI_DRIVER)
        .await
        .map_err(|source| Error::Dereference {
            kind: "CSIDriver",
            name: OSS_CSI_DRIVER.to_owned(),
            source,
        })?;
    Ok(Dereferenced {
        oss_csi_driver_missing: driver.is_none(),
    })
}
