//! Intake throughput: 200 series of 5 patches (+ cover letter) arriving at once, from 200
//! students, processed with concurrency bounds 1, 2 and 4. Prints the time until all are
//! checked (and recorded, tagged) and the cost per series.
//!
//! `cargo bench -p denis --bench intake`; `DENIS_BENCH_SERIES=N` changes the number of series,
//! `DENIS_BENCH_CONCURRENCY=1,2` the bounds measured.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::*;

const PATCHES: usize = 5;

fn main() {
    let series_count: usize = std::env::var("DENIS_BENCH_SERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // One series made with git format-patch, re-addressed per student: paths under the
    // student's directory and the student's sign-off, as each would have sent it.
    let template_course = Course::new();
    let patches: Vec<Patch> = (1..=PATCHES)
        .map(|i| {
            Patch::new(
                &format!("alice/file{i}.c"),
                &format!("int f{i}(void)\n{{\n\treturn {i};\n}}\n"),
                &signer("alice"),
            )
        })
        .collect();
    let template = format_series(&template_course.scratch("t"), "RFC PATCH v1", &[], &patches);
    println!(
        "intake: {series_count} series of {PATCHES} patches + cover letter, one per student, \
         all pending at start"
    );
    let levels: Vec<usize> = std::env::var("DENIS_BENCH_CONCURRENCY")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4]);
    for concurrency in levels {
        let course = Course::new();
        for n in 0..series_count {
            let name = format!("s{n:03}");
            let full = format!("Student {n:03}");
            course.add_student(&name, &full);
            let series: Vec<Vec<u8>> = template
                .iter()
                .map(|m| {
                    String::from_utf8_lossy(m)
                        .replace("alice/", &format!("{name}/"))
                        .replace("Alice Liddell <alice@", &format!("{full} <{name}@"))
                        .into_bytes()
                })
                .collect();
            course.send(&name, EARLY, "hw1", None, &series);
        }
        let mut config = course.config();
        config.concurrency = concurrency;
        let elapsed = runtime.block_on(async {
            let intake = denis::Intake::open(&course.root, config).await.unwrap();
            let started = Instant::now();
            let report = intake.process_all_pending().await.unwrap();
            let elapsed = started.elapsed();
            assert_eq!(report.processed, series_count);
            elapsed
        });
        let ok = course
            .db
            .inspect_gradeables(&denis::Filter::default())
            .unwrap()
            .iter()
            .filter(|g| g.gradeable.severity == denis::Severity::Ok)
            .count();
        assert_eq!(ok, series_count, "every series passes its checks");
        println!(
            "concurrency {concurrency}: all checked in {:.2} s, {:.1} ms per series, {:.1} series/s",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / series_count as f64,
            series_count as f64 / elapsed.as_secs_f64()
        );
    }
}
