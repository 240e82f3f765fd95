//! `keyconsole scan` over a tree of ordinary source files, on one thread. Run with
//! `cargo bench --bench scan`.
//!
//! The tree is this repository's own `src/` and `tests/`, copied into a temporary folder
//! until it holds at least 200 MB, with a fresh secret appended to every 40th file. Four
//! measurements in the same run, printed as MB/s (10^6 bytes per second) and as ratios:
//!
//! - `scan/tree`: what the command does (walk, read in chunks, match), via `scan_inputs`;
//! - `baseline/read`: reading the same files, listed in advance, into one reused buffer;
//! - `scan/in_memory`: the matcher alone over the same bytes held in memory;
//! - `baseline/memchr`: `memchr` looking for one byte that is not there, over those bytes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use keyconsole::cli::scan::{Input, scan_inputs};
use keyconsole::domain::key::{Env, Secret, SecretPrefix};
use keyconsole::domain::scan::Matcher;

const TARGET_BYTES: u64 = 200_000_000;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => source_files(&p, out),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
    files: Vec<PathBuf>,
    bytes: Vec<u8>,
    expected_findings: usize,
}

/// Copy `src/` and `tests/` until the tree holds `TARGET_BYTES`, sprinkling secrets.
fn build_tree(matcher: &Matcher) -> Option<Tree> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut originals = Vec::new();
    for top in ["src", "tests"] {
        source_files(&repo.join(top), &mut originals);
    }
    let originals: Vec<(PathBuf, Vec<u8>)> = originals
        .into_iter()
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            Some((p.strip_prefix(repo).ok()?.to_path_buf(), bytes))
        })
        .collect();
    // The repository's own test fixtures hold a few secrets already.
    let already: usize = originals
        .iter()
        .map(|(_, b)| matcher.find_all(b).len())
        .sum();
    let dir = tempfile::Builder::new()
        .prefix("scan-bench-")
        .tempdir()
        .ok()?;
    let root = dir.path().join("tree");
    let prefix = SecretPrefix::default();
    let mut fill = keyconsole::server::os_random;
    let mut files = Vec::new();
    let mut bytes = Vec::with_capacity(TARGET_BYTES as usize + (1 << 24));
    let mut expected = 0;
    let mut copy = 0;
    while (bytes.len() as u64) < TARGET_BYTES {
        for (i, (rel, content)) in originals.iter().enumerate() {
            let path = root.join(format!("copy{copy:03}")).join(rel);
            std::fs::create_dir_all(path.parent()?).ok()?;
            let mut content = content.clone();
            if i % 40 == 0 {
                let s = Secret::generate(&prefix, Env::Live, &mut fill);
                content.extend_from_slice(
                    format!("\nconst LEAKED: &str = \"{}\";\n", s.expose()).as_bytes(),
                );
                expected += 1;
            }
            std::fs::write(&path, &content).ok()?;
            bytes.extend_from_slice(&content);
            files.push(path);
        }
        expected += already;
        copy += 1;
    }
    Some(Tree {
        _dir: dir,
        root,
        files,
        bytes,
        expected_findings: expected,
    })
}

fn mean_ns(id: &str) -> Option<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/criterion")
        .join(id)
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn main() {
    let matcher = Matcher::new(&[SecretPrefix::default()]);
    let Some(tree) = build_tree(&matcher) else {
        eprintln!("cannot build the benchmark tree in the temporary folder");
        return;
    };
    let total = tree.bytes.len() as u64;
    println!(
        "tree: {} files, {:.1} MB, {} secrets to find",
        tree.files.len(),
        total as f64 / 1e6,
        tree.expected_findings
    );
    // Sanity, not timing: the scan finds exactly what was planted.
    let inputs = [Input::Path(tree.root.clone())];
    let outcome = scan_inputs(&inputs, &matcher);
    assert_eq!(outcome.found.len(), tree.expected_findings);
    assert_eq!(outcome.bytes, total);
    assert_eq!(matcher.find_all(&tree.bytes).len(), tree.expected_findings);

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(2));
    let mut g = c.benchmark_group("scan");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Bytes(total));
    g.bench_function("tree", |b| {
        b.iter(|| {
            scan_inputs(std::hint::black_box(&inputs), &matcher)
                .found
                .len()
        })
    });
    g.bench_function("in_memory", |b| {
        b.iter(|| matcher.find_all(std::hint::black_box(&tree.bytes)).len())
    });
    g.finish();
    let mut g = c.benchmark_group("baseline");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Bytes(total));
    let mut buf = vec![0u8; 1 << 20];
    g.bench_function("read", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for p in &tree.files {
                let Ok(mut f) = std::fs::File::open(p) else {
                    continue;
                };
                while let Ok(k) = f.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    n += k;
                }
            }
            n
        })
    });
    g.bench_function("memchr", |b| {
        b.iter(|| memchr::memchr(0xFF, std::hint::black_box(&tree.bytes)))
    });
    g.finish();
    c.final_summary();

    let mbps = |ns: f64| total as f64 / (ns / 1e9) / 1e6;
    let (Some(tree_ns), Some(read_ns), Some(mem_ns), Some(memchr_ns)) = (
        mean_ns("scan/tree"),
        mean_ns("baseline/read"),
        mean_ns("scan/in_memory"),
        mean_ns("baseline/memchr"),
    ) else {
        return;
    };
    println!();
    println!(
        "scan of the tree (walk + read + match): {:>7.0} MB/s on one thread",
        mbps(tree_ns)
    );
    println!(
        "plain read of the same files:           {:>7.0} MB/s  -> scan takes {:.2}x the time of reading",
        mbps(read_ns),
        tree_ns / read_ns
    );
    println!(
        "matcher alone over the bytes in memory: {:>7.0} MB/s",
        mbps(mem_ns)
    );
    println!(
        "memchr for one absent byte, in memory:  {:>7.0} MB/s  -> matcher takes {:.2}x the time of memchr",
        mbps(memchr_ns),
        mem_ns / memchr_ns
    );
}
