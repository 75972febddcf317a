fn main() {
    // `cargo build` must work before the UI is built: leave a page that says how to build it.
    let dist = std::path::Path::new("../ui/dist");
    if !dist.join("index.html").exists() {
        std::fs::create_dir_all(dist).expect("creating ui/dist");
        std::fs::write(
            dist.join("index.html"),
            "<!doctype html><meta charset=utf-8><title>Cairn</title><body style=\"font-family:sans-serif;padding:2em\">\
             <h1>The Cairn UI is not built</h1><p>Run <code>npm --prefix ui install && npm --prefix ui run build</code>, \
             then build <code>cairn-desktop</code> again.</p>",
        )
        .expect("writing the placeholder ui/dist/index.html");
    }
    // Declare the app's commands so that each gets an `allow-<command>` permission, and only
    // the capabilities in `capabilities/` grant them to the main window.
    let manifest = tauri_build::AppManifest::new().commands(&[
        "workspace_info",
        "list_datasets",
        "list_runs",
        "dataset_detail",
        "dataset_page",
        "dataset_profile",
        "last_quality_report",
        "diff_datasets",
        "train_choices",
        "start_training",
        "list_jobs",
        "cancel_job",
        "run_page",
        "search_runs",
        "run_keys",
        "compare_runs",
        "export_bundle",
        "inspect_bundle",
        "import_bundle",
        "list_models",
        "model_detail",
        "model_version",
        "promote_model",
        "approve_model",
        "audit_log",
        "audit_verify",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri build script");
}
