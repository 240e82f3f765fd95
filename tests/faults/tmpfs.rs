//! A small tmpfs to fill up: a real "No space left on device" under the database.
//!
//! Mounting needs root. As root, a mount that fails fails the test loudly; as another user
//! the test is skipped with a printed reason.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    path: PathBuf,
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

impl Tmpfs {
    /// A tmpfs of `size` (`mount -o size=…`, e.g. `4m`) on a new directory under /tmp;
    /// `None` (the reason printed) when not running as root.
    pub fn mount(name: &str, size: &str) -> Option<Tmpfs> {
        if !is_root() {
            eprintln!("SKIPPED {name}: mounting a tmpfs needs root (CI runs as root)");
            return None;
        }
        let path = tempfile::Builder::new()
            .prefix(&format!("hard-store-{name}-"))
            .tempdir_in("/tmp")
            .expect("mount point")
            .keep();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "running as root, but mounting a tmpfs on {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Tmpfs { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fill every free byte with a file; returns it (remove it to free the space).
    pub fn fill(&self) -> PathBuf {
        let fill = self.path.join("fill");
        let mut f = std::fs::File::create(&fill).expect("fill file");
        let chunk = vec![0u8; 64 * 1024];
        let mut size = chunk.len();
        while size > 0 {
            match f.write(&chunk[..size]) {
                Ok(0) => size /= 2,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => size /= 2,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        let free = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.path)
            .output()
            .expect("df");
        let text = String::from_utf8_lossy(&free.stdout);
        assert_eq!(
            text.lines().nth(1).map(str::trim),
            Some("0"),
            "the tmpfs still has room: {text}"
        );
        fill
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a server still holding files open must not keep the mount alive.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}
