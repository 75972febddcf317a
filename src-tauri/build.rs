fn main() {
    // Declare the app's commands so that each gets an `allow-<command>` permission, and only
    // the capabilities in `capabilities/` grant them to the main window.
    let manifest =
        tauri_build::AppManifest::new().commands(&["workspace_info", "list_datasets", "list_runs"]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri build script");
}
