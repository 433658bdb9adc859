//! A private control plane for the tests that stop its processes (they
//! would break every other test on the shared one): `tests/cluster/up` with
//! its own state directory and port base (`TRACEVAL_FAULTS_PORT_BASE`,
//! default 26000; the suite uses 27000/28000, developers 17000/18000, the
//! benchmarks 30000/30700), `tests/cluster/down` when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::support::procs::repo;

pub struct PrivateCluster {
    pub state: PathBuf,
    pub port_base: u16,
    pub kubeconfig: PathBuf,
}

impl PrivateCluster {
    /// Starts (blocking, ~11 s) a control plane with its state under `dir`.
    pub fn start(dir: &Path) -> Self {
        let port_base = std::env::var("TRACEVAL_FAULTS_PORT_BASE")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(26000);
        let cluster = Self {
            state: dir.join("cluster"),
            port_base,
            kubeconfig: dir.join("cluster/kubeconfig"),
        };
        cluster.up();
        cluster
    }

    fn script(&self, name: &str) -> Command {
        let mut command = Command::new(repo().join("tests/cluster").join(name));
        command
            .env("TRACEVAL_CLUSTER_STATE", &self.state)
            .env("TRACEVAL_PORT_BASE", self.port_base.to_string());
        command
    }

    /// Runs `tests/cluster/up`: starts what is not running (so after a
    /// component was killed, it starts exactly that one again, with the
    /// same command line) and waits until the cluster is healthy.
    pub fn up(&self) {
        let out = self.script("up").output().expect("run tests/cluster/up");
        assert!(
            out.status.success(),
            "tests/cluster/up (private, port base {}) failed: {}",
            self.port_base,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A client of this cluster.
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("private kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("private cluster config");
        Client::try_from(config).expect("private cluster client")
    }

    /// The PID `up` recorded for a component.
    pub fn pid(&self, name: &str) -> u32 {
        let path = self.state.join("pids").join(format!("{name}.pid"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .parse()
            .expect("a PID")
    }

    /// Sends `signal` (KILL, STOP, CONT) to a component.
    pub fn signal(&self, name: &str, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid(name).to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {name}");
    }

    /// SIGKILLs a component and waits until its process is gone.
    pub fn kill(&self, name: &str) {
        let pid = self.pid(name);
        self.signal(name, "KILL");
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let start = Instant::now();
        // A killed child of setsid lingers as a zombie until reaped by init;
        // gone or zombie both mean it serves nothing.
        while proc.exists() && !zombie(&proc) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{name} did not die"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn zombie(proc: &Path) -> bool {
    std::fs::read_to_string(proc.join("stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // A stopped etcd would not see down's SIGTERM.
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(
                std::fs::read_to_string(self.state.join("pids/etcd.pid"))
                    .unwrap_or_default()
                    .trim(),
            )
            .status();
        let _ = self.script("down").output();
    }
}
