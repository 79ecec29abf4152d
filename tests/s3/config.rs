//! `coffer serve --config FILE`: the example file serves, each option's
//! precedence (flag, then environment, then file, then default), and the
//! errors of a bad file.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// The example configuration shipped in `contrib/`.
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/coffer.toml");

/// `text`, a TOML file, with each `(key, value)` set: the line of the key,
/// commented out or not, becomes `key = value`. Each key must have exactly one
/// such line, so the example keeps documenting it.
fn with_keys(text: &str, keys: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut found = vec![0; keys.len()];
    for line in text.lines() {
        let key = line.trim_start_matches("# ").split(" = ").next().unwrap_or_default();
        match keys.iter().position(|(name, _)| *name == key) {
            Some(i) => {
                found[i] += 1;
                out.push_str(&format!("{key} = {}\n", keys[i].1));
            }
            None => out.push_str(&format!("{line}\n")),
        }
    }
    for ((key, _), count) in keys.iter().zip(found) {
        assert_eq!(count, 1, "lines for key `{key}` in the file");
    }
    out
}

/// A TOML string.
fn quoted(path: &Path) -> String {
    format!("{:?}", path.to_str().expect("a UTF-8 path"))
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("coffer-config-test").tempdir().unwrap()
}

#[tokio::test]
async fn the_example_configuration_serves_s3() {
    let dir = temp_dir();
    let data_dir = dir.path().join("data");
    let text = with_keys(
        &std::fs::read_to_string(EXAMPLE).unwrap(),
        &[
            ("listen", "\"127.0.0.1:0\""),
            ("admin_listen", "\"127.0.0.1:0\""),
            ("data_dir", &quoted(&data_dir)),
            ("access_key", &format!("{ACCESS_KEY:?}")),
            ("secret_key", &format!("{SECRET_KEY:?}")),
        ],
    );
    let config = dir.path().join("coffer.toml");
    std::fs::write(&config, text).unwrap();

    let server = Running(spawn_command(
        serve_command(&["--config", config.to_str().unwrap()], &[]),
        dir.path(),
    ));
    assert!(
        server.0.endpoint.starts_with("http://127.0.0.1:"),
        "{}",
        server.0.endpoint
    );
    let client = make_client(&server.0.endpoint, REGION, ACCESS_KEY, SECRET_KEY);
    let bucket = bucket_name("config");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    client
        .put_object()
        .bucket(&bucket)
        .key("k")
        .body(b"from the example".to_vec().into())
        .send()
        .await
        .unwrap();
    let got = client.get_object().bucket(&bucket).key("k").send().await.unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"from the example"
    );
    assert!(
        data_dir.join("coffer.redb").exists(),
        "the file's data_dir holds the store"
    );
}

#[test]
fn the_example_documents_every_option() {
    let output = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("can also be set in the --config file"), "{help}");
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("--"))
        .filter(|flag| flag.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .filter(|flag| !["config", "help"].contains(flag))
        .collect();
    assert!(
        flags.contains(&"tls-cert") && flags.contains(&"lifecycle-interval"),
        "{flags:?}"
    );
    for flag in flags {
        let key = flag.replace('-', "_");
        assert!(
            example.contains(&format!("\n{key} = ")) || example.contains(&format!("\n# {key} = ")),
            "contrib/coffer.toml lacks key `{key}`"
        );
        let env = format!("COFFER_{}", key.to_ascii_uppercase());
        assert!(help.contains(&env), "--help names no {env}");
    }
}

/// The host a server started with `args` and `env` listens on, its file
/// saying `127.0.0.2`; the loopback addresses tell the sources apart.
fn listening_host(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = temp_dir();
    let config = dir.path().join("coffer.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.2:0\"\nadmin_listen = \"127.0.0.1:0\"\ndata_dir = {}\n",
            quoted(&dir.path().join("data"))
        ),
    )
    .unwrap();
    let mut all_args = vec!["--config", config.to_str().unwrap()];
    all_args.extend_from_slice(args);
    let server = Running(spawn_command(serve_command(&all_args, env), dir.path()));
    server.0.addr.ip().to_string()
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    assert_eq!(listening_host(&[], &[]), "127.0.0.2", "the file beats the default");
    let env = [("COFFER_LISTEN", "127.0.0.3:0")];
    assert_eq!(listening_host(&[], &env), "127.0.0.3", "the environment beats the file");
    assert_eq!(
        listening_host(&["--listen", "127.0.0.4:0"], &env),
        "127.0.0.4",
        "a flag beats the environment"
    );
}

#[tokio::test]
async fn the_config_file_can_be_named_by_coffer_config_and_sets_every_kind_of_value() {
    let dir = temp_dir();
    let config = dir.path().join("coffer.toml");
    // A relative data_dir is the file's neighbour, wherever the server starts.
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ndata_dir = \"store\"\n\
             region = \"eu-west-3\"\naccess_key = {ACCESS_KEY:?}\nsecret_key = {SECRET_KEY:?}\n\
             lifecycle_interval = 60\nlifecycle_pass_entries = 10\nlifecycle_test_clock = true\n"
        ),
    )
    .unwrap();
    let mut cmd = serve_command(&[], &[("COFFER_CONFIG", config.to_str().unwrap())]);
    cmd.current_dir("/");
    let server = Running(spawn_command(cmd, dir.path()));
    assert!(dir.path().join("store").join("coffer.redb").exists());
    // The file's region, not the default one, is what signatures must name.
    let client = make_client(&server.0.endpoint, "eu-west-3", ACCESS_KEY, SECRET_KEY);
    client.list_buckets().send().await.unwrap();
    let wrong_region = make_client(&server.0.endpoint, REGION, ACCESS_KEY, SECRET_KEY);
    assert!(wrong_region.list_buckets().send().await.is_err());
}

/// Starts `coffer serve --config FILE` with `text` as the file and returns its
/// stderr, after checking that it refused to start with exit code 1.
fn refused(text: &str, args: &[&str]) -> String {
    let dir = temp_dir();
    let config = dir.path().join("coffer.toml");
    std::fs::write(&config, text).unwrap();
    let mut all_args = vec!["--config", config.to_str().unwrap()];
    all_args.extend_from_slice(args);
    let (status, stderr) = run_to_exit(serve_command(&all_args, &[]));
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    stderr
}

#[test]
fn an_unknown_key_is_an_error_naming_it_and_the_file() {
    let stderr = refused("listen = \"127.0.0.1:0\"\nlistne = \"127.0.0.1:0\"\n", &[]);
    assert!(stderr.starts_with("coffer: "), "{stderr}");
    assert!(
        stderr.contains("coffer.toml: unknown key `listne` (line 2)"),
        "{stderr}"
    );
}

#[test]
fn a_value_of_the_wrong_type_is_an_error_naming_the_key() {
    let stderr = refused("lifecycle_interval = \"hourly\"\n", &[]);
    assert!(
        stderr.contains("coffer.toml: key `lifecycle_interval`: invalid type: string \"hourly\""),
        "{stderr}"
    );
    let stderr = refused("region = \"eu-west-3\"\nlisten = \"localhost\"\n", &[]);
    assert!(
        stderr.contains("coffer.toml: key `listen`: invalid socket address syntax (line 2)"),
        "{stderr}"
    );
}

#[test]
fn a_file_that_is_not_toml_or_not_there_is_an_error() {
    let stderr = refused("listen = [\n", &[]);
    assert!(stderr.contains("coffer.toml: "), "{stderr}");
    let (status, stderr) = run_to_exit(serve_command(&["--config", "/nonexistent/coffer.toml"], &[]));
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("reading /nonexistent/coffer.toml"), "{stderr}");
}

#[test]
fn paired_options_must_both_be_given_across_sources() {
    let stderr = refused("secret_key = \"secret\"\n", &[]);
    assert!(stderr.contains("access_key and secret_key go together"), "{stderr}");
    let stderr = refused("tls_cert = \"cert.pem\"\n", &[]);
    assert!(stderr.contains("tls_cert and tls_key go together"), "{stderr}");
    // One from the file and one from a flag make a pair.
    let dir = temp_dir();
    let config = dir.path().join("coffer.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\naccess_key = {ACCESS_KEY:?}\n"
        ),
    )
    .unwrap();
    let cmd = serve_command(&["--config", config.to_str().unwrap(), "--secret-key", SECRET_KEY], &[]);
    let server = Running(spawn_command(cmd, dir.path()));
    let lines = server.0.lines.lock().unwrap().join("\n");
    assert!(!lines.contains("root credentials"), "the given keys are used: {lines}");
}
