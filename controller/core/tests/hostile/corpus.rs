//! The hostile-manifest corpus: manifest folders written by a careless or malicious author,
//! each with the one error it must produce (`file:line: field: words`), the credential planted
//! in it that must never be printed, and follow-on errors that must not appear. Shared by
//! `ferry-core`'s in-process test (`tests/hostile.rs`) and the `ferry validate` child-process
//! test (`controller/ferry/tests/hostile_cli.rs`), which includes this file by path.

#![allow(dead_code, unreachable_pub)]

use std::process::Command;

/// One hostile manifests folder and what must come of it.
pub struct Case {
    /// Names the case in failures.
    pub name: String,
    /// Which class of the issue it belongs to.
    pub class: &'static str,
    /// Files over the baseline stack (path → bytes); `None` removes a baseline file.
    files: Vec<(String, Option<Vec<u8>>)>,
    /// Entries that are not plain files.
    specials: Vec<Special>,
    /// The error line must start with this (`file:line: field:` or `file:`).
    pub at: String,
    /// …and contain these words.
    pub says: String,
    /// A credential planted in the input: never in any output.
    pub secret: Option<String>,
    /// Follow-on errors that must not be reported.
    pub absent: Vec<String>,
}

enum Special {
    Fifo(String),
    Socket(String),
    Link(String, String),
    Dir(String),
}

impl Case {
    fn new(class: &'static str, name: &str) -> Self {
        Self {
            name: name.to_owned(),
            class,
            files: Vec::new(),
            specials: Vec::new(),
            at: String::new(),
            says: String::new(),
            secret: None,
            absent: Vec::new(),
        }
    }

    fn file(mut self, path: &str, content: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.to_owned(), Some(content.into())));
        self
    }

    fn remove(mut self, path: &str) -> Self {
        self.files.push((path.to_owned(), None));
        self
    }

    fn fifo(mut self, path: &str) -> Self {
        self.specials.push(Special::Fifo(path.to_owned()));
        self
    }

    fn socket(mut self, path: &str) -> Self {
        self.specials.push(Special::Socket(path.to_owned()));
        self
    }

    fn link(mut self, path: &str, target: &str) -> Self {
        self.specials
            .push(Special::Link(path.to_owned(), target.to_owned()));
        self
    }

    fn dir(mut self, path: &str) -> Self {
        self.specials.push(Special::Dir(path.to_owned()));
        self
    }

    fn expect(mut self, at: &str, says: &str) -> Self {
        at.clone_into(&mut self.at);
        says.clone_into(&mut self.says);
        self
    }

    fn secret(mut self, secret: &str) -> Self {
        self.secret = Some(secret.to_owned());
        self
    }

    fn absent(mut self, text: &str) -> Self {
        self.absent.push(text.to_owned());
        self
    }

    /// Write the folder: the baseline stack, this case's files, then its special entries.
    pub fn build(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut files: Vec<(String, Option<Vec<u8>>)> = vec![
            ("dev/environment.yaml".into(), Some(ENV.as_bytes().to_vec())),
            ("base/web.yaml".into(), Some(web("", "").into_bytes())),
            ("base/repo.yaml".into(), Some(REPO.as_bytes().to_vec())),
        ];
        for (path, content) in &self.files {
            files.retain(|(p, _)| p != path);
            files.push((path.clone(), content.clone()));
        }
        for (path, content) in files {
            let full = dir.path().join(&path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            if let Some(content) = content {
                std::fs::write(full, content).expect("write");
            }
        }
        for special in &self.specials {
            match special {
                Special::Fifo(p) => {
                    let full = dir.path().join(p);
                    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
                    let ok = Command::new("mkfifo")
                        .arg(&full)
                        .status()
                        .expect("mkfifo (coreutils) must be installed");
                    assert!(ok.success(), "mkfifo {p}");
                }
                Special::Socket(p) => {
                    let full = dir.path().join(p);
                    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
                    // The socket file stays after the listener is dropped.
                    drop(std::os::unix::net::UnixListener::bind(&full).expect("bind socket"));
                }
                Special::Link(p, target) => {
                    let full = dir.path().join(p);
                    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
                    std::os::unix::fs::symlink(target, full).expect("symlink");
                }
                Special::Dir(p) => std::fs::create_dir_all(dir.path().join(p)).expect("mkdir"),
            }
        }
        dir
    }

    /// Check the error lines (the output of one load or one `ferry validate`) against the case;
    /// `Err` says what is wrong.
    pub fn check(&self, output: &str) -> Result<(), String> {
        let lines: Vec<&str> = output.lines().collect();
        if !lines
            .iter()
            .any(|l| l.starts_with(&self.at) && l.contains(&self.says))
        {
            return Err(format!(
                "no error starting `{}` containing `{}`",
                self.at, self.says
            ));
        }
        if let Some(secret) = &self.secret
            && output.contains(secret.as_str())
        {
            return Err(format!("the planted secret `{secret}` was printed"));
        }
        for text in &self.absent {
            if output.contains(text.as_str()) {
                return Err(format!("follow-on error `{text}` was reported"));
            }
        }
        self.check_clean(output)
    }

    /// No planted credential and no raw control character (line breaks aside) in `output`.
    pub fn check_clean(&self, output: &str) -> Result<(), String> {
        if let Some(secret) = &self.secret
            && output.contains(secret.as_str())
        {
            return Err(format!("the planted secret `{secret}` was printed"));
        }
        if let Some(c) = output.chars().find(|c| c.is_control() && *c != '\n') {
            return Err(format!(
                "a raw control character U+{:04X} was printed",
                u32::from(c)
            ));
        }
        Ok(())
    }
}

/// The baseline Environment (dev, on ECS): 15 lines, then whatever a case appends.
pub const ENV: &str = "apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata:
  name: dev
spec:
  region: us-east-1
  cluster: c
  registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
  network: { subnets: [subnet-1] }
  resources: [../base]
  images:
    app: { tag: v1 }
  values:
    inline:
      host: db.internal
";

/// The baseline repository.
pub const REPO: &str = "apiVersion: ferry.dev/v1alpha1
kind: EcrRepository
metadata:
  name: app
spec: {}
";

/// The baseline service: 12 lines; `container` lines (8-space indent) start at line 13, then
/// `spec` lines (2-space indent).
pub fn web(container: &str, spec: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: EcsService
metadata:
  name: web
spec:
  taskDefinition:
    cpu: 256
    memory: 512
    containers:
      - name: app
        image: app
        portMappings: [{{ containerPort: 80 }}]
{container}{spec}"
    )
}

/// A service document named `name` with the baseline spec.
fn service_named(name: &str) -> String {
    web("", "").replace("  name: web\n", &format!("  name: {name}\n"))
}

/// The Environment with extra spec lines appended (from line 16).
fn env_with(extra: &str) -> String {
    format!("{ENV}{extra}")
}

/// A local-platform environment `lab` using the base, with `commands` lines from line 9.
fn lab(commands: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata:
  name: lab
spec:
  platform: local
  resources: [../base]
  local:
{commands}  values: {{ inline: {{ host: localhost }} }}
"
    )
}

/// Anchors 10 wide and 3 deep, then `n` aliases of the deepest: one line, 1234 + 1111·n nodes.
fn bomb_line(n: usize) -> String {
    format!(
        "{{a: &a [x, x, x, x, x, x, x, x, x, x], b: &b [{}], c: &c [{}], d: [{}]}}\n",
        ["*a"; 10].join(", "),
        ["*b"; 10].join(", "),
        vec!["*c"; n].join(", ")
    )
}

const AWS_KEY_ID: &str = "AKIAZ7Q2HXT4MPLE3KEY";
const AWS_SECRET_KEY: &str = "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";
const GITHUB_TOKEN: &str = "ghp_R4nd0mT0k3nV4lu3F0rT35t1ngABCDEF1234";
const SLACK_TOKEN: &str = "xoxb-2048-40961-Zq8RtY7uI6oP5aSd";
const STRIPE_KEY: &str = "sk_live_9aB8cD7eF6gH5iJ4kL3mN2oP";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmZXJyeS10ZXN0In0.c2lnbmF0dXJlLXBhcnQtaGVyZQ";
const DB_PASSWORD: &str = "Tr0ub4dor-and-3";
const GOOGLE_KEY: &str = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY";

/// Every case. Lines are counted in the templates above.
pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |c: Case| cases.push(c);

    // --- Resource budgets: per file (over all its documents) and per environment. ---
    let four_docs = (0..4)
        .map(|_| bomb_line(27))
        .collect::<Vec<_>>()
        .join("---\n");
    add(
        Case::new("budget", "alias bomb split across documents of one file")
            .file("base/bomb.yaml", format!("---\n{four_docs}"))
            .expect("base/bomb.yaml:8: invalid YAML:", "over all its documents"),
    );
    let many_docs = (0..12)
        .map(|_| bomb_line(8))
        .collect::<Vec<_>>()
        .join("---\n");
    add(Case::new(
        "budget",
        "many small bombs in one file, each under the limit",
    )
    .file("base/bombs.yaml", format!("---\n{many_docs}"))
    .expect(
        "base/bombs.yaml:20: invalid YAML:",
        "more than 100000 nodes",
    ));
    add(Case::new("budget", "classic billion laughs inside a manifest")
        .file("base/laughs.yaml", format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: EcrRepository\nmetadata: {{ name: laughs }}\nspec:\n  tags: {}",
            bomb_line(200)
        ))
        .expect("base/laughs.yaml:5: invalid YAML:", "more than 100000 nodes"));
    let big = "v".repeat(400_000);
    let refs: Vec<String> = (0..200).map(|i| format!("V{i:03}: \"${{big}}\"")).collect();
    add(Case::new("budget", "one value referenced many times")
        .file(
            "dev/environment.yaml",
            ENV.replace(
                "      host: db.internal\n",
                &format!("      host: db.internal\n      big: \"{big}\"\n"),
            ),
        )
        .file(
            "base/web.yaml",
            web(
                &format!("        environment: {{ {} }}\n", refs.join(", ")),
                "",
            ),
        )
        .expect(
            "base/web.yaml:13: spec.taskDefinition.containers[0].environment.V",
            "more than 64 MiB",
        ));
    add(Case::new(
        "budget",
        "one value interpolated many times into one string",
    )
    .file(
        "dev/environment.yaml",
        ENV.replace(
            "      host: db.internal\n",
            &format!("      host: db.internal\n      big: \"{big}\"\n"),
        ),
    )
    .file(
        "base/web.yaml",
        web(
            &format!("        command: [\"{}\"]\n", "${big}".repeat(200)),
            "",
        ),
    )
    .expect(
        "base/web.yaml:13: spec.taskDefinition.containers[0].command[0]:",
        "larger than 64 MiB",
    ));
    let list: Vec<String> = (0..20_000).map(|i| format!("s{i}")).collect();
    let list_refs: Vec<String> = (0..60).map(|i| format!("L{i:02}: \"${{many}}\"")).collect();
    add(
        Case::new("budget", "a list value expanded into many fields")
            .file(
                "dev/environment.yaml",
                ENV.replace(
                    "      host: db.internal\n",
                    &format!(
                        "      host: db.internal\n      many: [{}]\n",
                        list.join(", ")
                    ),
                ),
            )
            .file(
                "base/web.yaml",
                web("", &format!("  tags: {{ {} }}\n", list_refs.join(", "))),
            )
            .expect("base/web.yaml:13: spec.tags.L", "more than 1000000 nodes"),
    );
    let deep_keys: String = (0..60)
        .map(|i| {
            format!(
                "{}{}:\n",
                "  ".repeat(i),
                "k".repeat(1_000) + &i.to_string()
            )
        })
        .collect();
    let siblings: Vec<String> = (0..30_000).map(|i| format!("q{i}: 1")).collect();
    add(
        Case::new("budget", "long keys deep down make huge field paths")
            .file(
                "base/keys.yaml",
                format!(
                    "{deep_keys}{}{{ {} }}\n",
                    "  ".repeat(60),
                    siblings.join(", ")
                ),
            )
            .expect("base/keys.yaml:61: invalid YAML:", "MiB"),
    );
    add(Case::new("budget", "a file over 1 MiB")
        .file(
            "base/huge.yaml",
            format!("# {}\n{}", "x".repeat(1024 * 1024), web("", "")),
        )
        .expect("base/huge.yaml: larger than", "refusing"));
    add(Case::new("budget", "nesting deeper than 64")
        .file(
            "base/deep.yaml",
            format!("{}{}\n", "[".repeat(70), "]".repeat(70)),
        )
        .expect("base/deep.yaml:1: invalid YAML:", "nesting deeper"));
    add(
        Case::new("budget", "values file nested beyond JSON's limit")
            .file(
                "dev/environment.yaml",
                ENV.replace(
                    "    inline:\n      host: db.internal\n",
                    "    fromFile: tf.json\n",
                ),
            )
            .file(
                "dev/tf.json",
                format!("{}{}", "[".repeat(200), "]".repeat(200)),
            )
            .expect(
                "dev/environment.yaml:14: spec.values.fromFile:",
                "invalid JSON",
            ),
    );
    let mut nested = String::new();
    for i in 0..34 {
        nested.push_str(&format!("d{i}/"));
    }
    add(Case::new("budget", "folders nested deeper than 32")
        .file(&format!("base/{nested}x.yaml"), REPO)
        .expect("base/d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17/d18/d19/d20/d21/d22/d23/d24/d25/d26/d27/d28/d29/d30/d31: folders nested deeper", "32"));

    // --- The file system as an adversary: never opened, never walked forever. ---
    add(Case::new("fs", "a FIFO named like a manifest")
        .fifo("base/pipe.yaml")
        .expect(
            "base/pipe.yaml: a named pipe (FIFO)",
            "without being opened",
        ));
    add(Case::new("fs", "a FIFO without an extension")
        .fifo("base/pipe")
        .expect("base/pipe: a named pipe (FIFO)", "refused"));
    add(Case::new("fs", "a FIFO in the environment folder")
        .fifo("dev/pipe.yml")
        .expect("dev/pipe.yml: a named pipe (FIFO)", "refused"));
    add(Case::new("fs", "a FIFO as the values file")
        .file(
            "dev/environment.yaml",
            ENV.replace(
                "    inline:\n      host: db.internal\n",
                "    fromFile: outputs.json\n",
            ),
        )
        .fifo("dev/outputs.json")
        .expect(
            "dev/environment.yaml:14: spec.values.fromFile:",
            "named pipe",
        ));
    add(Case::new("fs", "a FIFO named as a resource")
        .file(
            "dev/environment.yaml",
            ENV.replace(
                "resources: [../base]",
                "resources: [../base, ../queue.yaml]",
            ),
        )
        .fifo("queue.yaml")
        .expect("queue.yaml: a named pipe (FIFO)", "refused"));
    add(Case::new("fs", "a socket")
        .socket("base/s.yaml")
        .expect("base/s.yaml: a socket", "refused"));
    add(Case::new("fs", "a link to an endless device")
        .link("base/zero.yaml", "/dev/zero")
        .expect("base/zero.yaml: a character device", "refused"));
    add(Case::new("fs", "a link to a terminal-like device")
        .link("base/tty.yaml", "/dev/null")
        .expect("base/tty.yaml: a character device", "refused"));
    add(Case::new("fs", "a folder that links to itself")
        .link("base/loop", ".")
        .expect("base/loop: links back to `base`", "loop"));
    add(Case::new("fs", "a folder that links to the manifests root")
        .link("base/up", "..")
        .expect("base/up: links back to the manifests folder", "loop"));
    add(Case::new("fs", "a loop through two links")
        .dir("base/a")
        .dir("base/b")
        .link("base/a/to-b", "../b")
        .link("base/b/to-a", "../a")
        .expect("base/a/to-b/to-a: links back to `base/a`", "loop"));
    add(Case::new("fs", "a loop in an environment folder")
        .link("dev/again", "..")
        .expect("dev/again: links back to the manifests folder", "loop"));
    add(Case::new("fs", "a file link that points at itself")
        .link("base/self.yaml", "self.yaml")
        .expect("base/self.yaml: a symbolic link that loops", "refusing"));
    add(Case::new("fs", "two file links pointing at each other")
        .link("base/ping.yaml", "pong.yaml")
        .link("base/pong.yaml", "ping.yaml")
        .expect("base/ping.yaml: a symbolic link that loops", "refusing"));
    add(Case::new("fs", "a broken link")
        .link("base/gone.yaml", "nowhere.yaml")
        .expect("base/gone.yaml: a broken symbolic link", "No such file"));
    let mut diamond = Case::new(
        "fs",
        "a diamond of links (exponential paths without a loop)",
    );
    for i in 0..24 {
        diamond = diamond
            .dir(&format!("base/d{i}"))
            .link(&format!("base/d{i}/l1"), &format!("../d{}", i + 1))
            .link(&format!("base/d{i}/l2"), &format!("../d{}", i + 1));
    }
    add(diamond.dir("base/d24").expect(
        "base/d0/l2: is the same folder as `base/d0/l1`",
        "read once",
    ));
    add(Case::new("fs", "a folder link out of the manifests")
        .link("base/etc", "/etc")
        .expect("base/etc: links outside the manifests folder", "refusing"));
    add(Case::new("fs", "a file link out of the manifests")
        .link("base/passwd.yaml", "/etc/passwd")
        .expect(
            "base/passwd.yaml: links outside the manifests folder",
            "refusing",
        ));

    // --- Nothing silently skipped. ---
    add(Case::new("skip", "the only Environment does not parse")
        .file(
            "dev/environment.yaml",
            ENV.replace("  region: us-east-1\n", "  region: [us-east-1\n"),
        )
        .expect(
            "dev/environment.yaml:6: invalid YAML: the `[` sequence",
            "never closed",
        )
        .absent("no environment found")
        .absent("no document of kind Environment"));
    add(Case::new("skip", "the Environment has a wrong apiVersion")
        .file(
            "dev/environment.yaml",
            ENV.replace("ferry.dev/v1alpha1", "ferry.dev/v1"),
        )
        .expect(
            "dev/environment.yaml:1: apiVersion:",
            "unsupported apiVersion",
        )
        .absent("no environment found"));
    add(Case::new("skip", "the Environment's kind is misspelled")
        .file(
            "dev/environment.yaml",
            ENV.replace("kind: Environment", "kind: Enviroment"),
        )
        .expect("dev/environment.yaml:2: kind:", "unknown kind")
        .absent("no environment found"));
    add(Case::new("skip", "the Environment has no metadata.name")
        .file(
            "dev/environment.yaml",
            ENV.replace("  name: dev\n", "  labels: {}\n"),
        )
        .expect(
            "dev/environment.yaml:4: metadata.name:",
            "missing metadata.name",
        ));
    add(Case::new(
        "skip",
        "a second environment is broken while the first is fine",
    )
    .file(
        "qa/environment.yaml",
        ENV.replace("name: dev", "name: qa").replace(
            "kind: Environment\n",
            "kind: Environment\nkind: Environment\n",
        ),
    )
    .expect("qa/environment.yaml:3: invalid YAML:", "duplicate key"));
    add(Case::new("skip", "a broken file no environment reads")
        .file(
            "extra/notes.yaml",
            "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata: {name: x}\nspec: [\n",
        )
        .expect("extra/notes.yaml:4: invalid YAML:", "node"));
    add(Case::new("skip", "a document that is a list")
        .file(
            "base/list.yaml",
            "- apiVersion: ferry.dev/v1alpha1\n- kind: EcsService\n",
        )
        .expect("base/list.yaml:1:", "must be a mapping"));
    add(Case::new("skip", "a bad document in the middle of a stream")
        .file("base/many.yaml", format!("{}---\napiVersion: ferry.dev/v1alpha1\nkind: EcrRepo\nmetadata: {{name: two}}\nspec: {{}}\n---\n{}", REPO.replace("name: app", "name: one"), REPO.replace("name: app", "name: three")))
        .expect("base/many.yaml:8: kind:", "unknown kind")
        .absent("duplicate"));
    add(Case::new("skip", "an upper-case extension")
        .file(
            "base/Broken.YAML",
            "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata: {name: x}\nspec: {\n",
        )
        .expect("base/Broken.YAML:4: invalid YAML:", "node"));

    // --- Credentials: found by value, refused in plain fields, never printed. ---
    for (name, value) in [
        ("an AWS access key id", AWS_KEY_ID),
        ("an AWS secret access key", AWS_SECRET_KEY),
        ("a GitHub token", GITHUB_TOKEN),
        ("a Slack token", SLACK_TOKEN),
        ("a Stripe key", STRIPE_KEY),
        ("a JSON Web Token", JWT),
        ("a Google API key", GOOGLE_KEY),
    ] {
        add(Case::new("secret", &format!("{name} in plain environment"))
            .file(
                "base/web.yaml",
                web(
                    &format!("        environment: {{ SETTING: \"{value}\" }}\n"),
                    "",
                ),
            )
            .expect(
                "base/web.yaml:13: spec.taskDefinition.containers[0].environment.SETTING:",
                "under `secrets`",
            )
            .secret(value));
    }
    add(Case::new("secret", "a URL with a password in plain environment")
        .file("base/web.yaml", web(&format!("        environment: {{ DATABASE_URL: \"postgres://app:{DB_PASSWORD}@db:5432/n\" }}\n"), ""))
        .expect("base/web.yaml:13: spec.taskDefinition.containers[0].environment.DATABASE_URL:", "a URL with a password")
        .secret(DB_PASSWORD));
    add(Case::new("secret", "a PEM private key in a block scalar")
        .file("base/web.yaml", web("        environment:\n          TLS: |\n            -----BEGIN RSA PRIVATE KEY-----\n            MIIEowIBAAKCAQEAq7BFUpkGp3+LQmlQ\n            -----END RSA PRIVATE KEY-----\n", ""))
        .expect("base/web.yaml:14: spec.taskDefinition.containers[0].environment.TLS:", "a PEM private key")
        .secret("MIIEowIBAAKCAQEAq7BFUpkGp3+LQmlQ"));
    add(Case::new("secret", "a type error on a credential")
        .file(
            "base/web.yaml",
            web("", &format!("  desiredCount: \"{AWS_KEY_ID}\"\n")),
        )
        .expect("base/web.yaml:13: spec.desiredCount:", "invalid type")
        .secret(AWS_KEY_ID));
    add(Case::new("secret", "a type error on a substituted value")
        .file(
            "dev/environment.yaml",
            ENV.replace(
                "      host: db.internal\n",
                "      host: db.internal\n      count: plain-but-private-7731\n",
            ),
        )
        .file("base/web.yaml", web("", "  desiredCount: \"${count}\"\n"))
        .expect("base/web.yaml:13: spec.desiredCount:", "invalid type")
        .secret("plain-but-private-7731"));
    add(
        Case::new("secret", "an unknown variant holding a credential")
            .file(
                "base/web.yaml",
                web("", &format!("  launchType: {STRIPE_KEY}\n")),
            )
            .expect("base/web.yaml:13: spec.launchType:", "unknown variant")
            .secret(STRIPE_KEY),
    );
    add(Case::new("secret", "a substituted value in a name rule")
        .file(
            "dev/environment.yaml",
            ENV.replace("  cluster: c\n", "  cluster: \"${cluster}\"\n")
                .replace(
                    "      host: db.internal\n",
                    "      host: db.internal\n      cluster: \"not a name: quiet-4471\"\n",
                ),
        )
        .expect("dev/environment.yaml:7: spec.cluster:", "must be 1-255")
        .secret("quiet-4471"));
    add(Case::new("secret", "a syntax error next to a token")
        .file(
            "base/web.yaml",
            web(
                &format!("        environment: {{ T: \"{GITHUB_TOKEN}\n"),
                "",
            ),
        )
        .expect("base/web.yaml:", "invalid YAML")
        .secret(GITHUB_TOKEN));
    add(
        Case::new("secret", "an unclosed ${ in a URL with a password")
            .file(
                "base/web.yaml",
                web(
                    &format!(
                        "        environment: {{ DSN: \"postgres://u:{DB_PASSWORD}@h/${{db\" }}\n"
                    ),
                    "",
                ),
            )
            .expect(
                "base/web.yaml:13: spec.taskDefinition.containers[0].environment.DSN:",
                "unclosed",
            )
            .secret(DB_PASSWORD),
    );
    add(Case::new("secret", "a credential in a command argument")
        .file(
            "base/web.yaml",
            web(
                &format!("        command: [serve, \"--token={SLACK_TOKEN}\"]\n"),
                "",
            ),
        )
        .expect(
            "base/web.yaml:13: spec.taskDefinition.containers[0].command[1]:",
            "a Slack token",
        )
        .secret(SLACK_TOKEN));
    add(Case::new("secret", "a credential in a tag value")
        .file(
            "base/web.yaml",
            web("", &format!("  tags: {{ owner: \"{AWS_KEY_ID}\" }}\n")),
        )
        .expect(
            "base/web.yaml:13: spec.tags.owner:",
            "never belongs in a tag",
        )
        .secret(AWS_KEY_ID));
    add(
        Case::new("secret", "a credential as an unknown field's value")
            .file(
                "base/web.yaml",
                web("", &format!("  password: \"{DB_PASSWORD}\"\n")),
            )
            .expect("base/web.yaml:13: spec.password:", "unknown field")
            .secret(DB_PASSWORD),
    );

    // --- One substitution pass, patches included; `$${` stays literal. ---
    add(Case::new("values", "an escaped $${ in a patch stays literal")
        .file("dev/environment.yaml", env_with("  patches:\n    - target: { kind: EcsService, name: web }\n      merge:\n        spec:\n          taskDefinition: { family: \"$${host}\" }\n"))
        .expect("dev/environment.yaml:20: spec.taskDefinition.family:", "must be 1-255")
        .absent("no value for"));
    add(
        Case::new("values", "a value holding ${…} is not expanded again")
            .file(
                "dev/environment.yaml",
                ENV.replace("  cluster: c\n", "  cluster: \"${name}\"\n")
                    .replace(
                        "      host: db.internal\n",
                        "      host: db.internal\n      name: \"${host}\"\n",
                    ),
            )
            .expect("dev/environment.yaml:7: spec.cluster:", "must be 1-255")
            .absent("no value for"),
    );
    add(Case::new("values", "a patch value with a missing ${…} points at the patch")
        .file("dev/environment.yaml", env_with("  patches:\n    - target: { kind: EcsService, name: web }\n      merge:\n        spec:\n          desiredCount: \"${replicas}\"\n"))
        .expect("dev/environment.yaml:20: spec.desiredCount:", "no value for `${replicas}`")
        .absent("invalid type"));

    // --- Patches: errors at the patch, `merge` a mapping. ---
    add(Case::new("patch", "merge is a number")
        .file(
            "dev/environment.yaml",
            env_with("  patches:\n    - target: { kind: EcsService, name: web }\n      merge: 5\n"),
        )
        .expect(
            "dev/environment.yaml:18: spec.patches[0].merge:",
            "must be a mapping",
        ));
    add(Case::new("patch", "merge is a list")
        .file(
            "dev/environment.yaml",
            env_with(
                "  patches:\n    - target: { kind: EcsService, name: web }\n      merge: [spec]\n",
            ),
        )
        .expect(
            "dev/environment.yaml:18: spec.patches[0].merge:",
            "must be a mapping",
        ));
    add(Case::new("patch", "merge is null")
        .file(
            "dev/environment.yaml",
            env_with("  patches:\n    - target: { kind: EcsService, name: web }\n      merge: ~\n"),
        )
        .expect(
            "dev/environment.yaml:18: spec.patches[0].merge:",
            "must be a mapping",
        ));
    add(Case::new("patch", "a patch removes a required field")
        .file("dev/environment.yaml", env_with("  patches:\n    - target: { kind: EcsService, name: web }\n      merge:\n        spec:\n          taskDefinition: { containers: ~ }\n"))
        .expect("dev/environment.yaml:20: spec.taskDefinition.containers:", "missing field"));
    add(Case::new("patch", "a patch adds an unknown field")
        .file("dev/environment.yaml", env_with("  patches:\n    - target: { kind: EcsService, name: web }\n      merge:\n        spec:\n          replicas: 3\n"))
        .expect("dev/environment.yaml:20: spec.replicas:", "unknown field"));
    add(Case::new("patch", "a patch writes a bad value deep in a list")
        .file("dev/environment.yaml", env_with("  patches:\n    - target: { kind: EcsService, name: web }\n      merge:\n        spec:\n          taskDefinition:\n            containers:\n              - name: app\n                image: app\n                portMappings: [{ containerPort: 0 }]\n"))
        .expect("dev/environment.yaml:24: spec.taskDefinition.containers[0].portMappings[0].containerPort:", "port 0"));
    add(Case::new("patch", "a patch renames its target")
        .file("dev/environment.yaml", env_with("  patches:\n    - target: { kind: EcsService, name: web }\n      merge: { metadata: { name: other } }\n"))
        .expect("dev/environment.yaml:18: spec.patches[0].merge:", "cannot change"));

    // --- One root error, no cascade. ---
    add(Case::new("cascade", "a patch on a service whose file does not parse")
        .file("dev/environment.yaml", env_with("  patches:\n    - target: { kind: EcsService, name: web }\n      merge: { spec: { desiredCount: 2 } }\n"))
        .file("base/web.yaml", web("", "  desiredCount: [\n"))
        .expect("base/web.yaml:13: invalid YAML:", "node")
        .absent("no EcsService named"));
    add(Case::new("cascade", "a repository with a type error")
        .file(
            "base/repo.yaml",
            REPO.replace("spec: {}", "spec: { scanOnPush: maybe }"),
        )
        .expect("base/repo.yaml:5: spec.scanOnPush:", "invalid type")
        .absent("is not an EcrRepository")
        .absent("is neither an EcrRepository"));
    add(Case::new("cascade", "a dependency with a type error")
        .file(
            "base/api.yaml",
            service_named("api").replace("    cpu: 256\n", "    cpu: [256]\n"),
        )
        .file("base/web.yaml", web("", "  dependsOn: [api]\n"))
        .expect(
            "base/api.yaml:7: spec.taskDefinition.cpu:",
            "expected a string or number",
        )
        .absent("no EcsService"));
    add(Case::new("cascade", "a missing value in a typed field")
        .file("base/web.yaml", web("", "  desiredCount: \"${nope}\"\n"))
        .expect("base/web.yaml:13: spec.desiredCount:", "no value for")
        .absent("invalid type"));

    // --- Names ECS and ECR would refuse, given or derived. ---
    add(Case::new("names", "a service name with a dot")
        .file("base/web.yaml", service_named("web.v2"))
        .expect("base/web.yaml:4: metadata.name:", "service name"));
    add(
        Case::new("names", "a derived task family over 255 characters")
            .file("base/web.yaml", service_named(&"w".repeat(252)))
            .expect("base/web.yaml:4: metadata.name:", "task family"),
    );
    for bad in ["app..x", "app_-x", "App", "-app", "team//app", "a"] {
        add(Case::new("names", &format!("repository name {bad}"))
            .file(
                "base/repo.yaml",
                REPO.replace("name: app", &format!("name: \"{bad}\"")),
            )
            .expect("base/repo.yaml:4: metadata.name:", "not valid for ECR"));
    }
    add(Case::new("names", "a tag key over 128 characters")
        .file(
            "base/web.yaml",
            web("", &format!("  tags: {{ {}: x }}\n", "k".repeat(129))),
        )
        .expect("base/web.yaml:13: spec.tags.", "1-128"));
    add(Case::new("names", "a tag value over 256 characters")
        .file(
            "base/repo.yaml",
            REPO.replace(
                "spec: {}",
                &format!("spec: {{ tags: {{ team: {} }} }}", "v".repeat(257)),
            ),
        )
        .expect("base/repo.yaml:5: spec.tags.team:", "at most 256"));
    add(Case::new("names", "a reserved tag key in another case")
        .file("base/web.yaml", web("", "  tags: { \"AWS:owner\": x }\n"))
        .expect("base/web.yaml:13: spec.tags.AWS:owner:", "reserved"));
    let many_tags: Vec<String> = (0..49).map(|i| format!("t{i}: x")).collect();
    add(Case::new("names", "more tags than ECS allows")
        .file(
            "base/web.yaml",
            web("", &format!("  tags: {{ {} }}\n", many_tags.join(", "))),
        )
        .expect("base/web.yaml:13: spec.tags:", "exceed the 50"));
    add(Case::new(
        "names",
        "an environment name that cannot be part of a family",
    )
    .remove("dev/environment.yaml")
    .file(
        "dev.eu/environment.yaml",
        ENV.replace("name: dev", "name: dev.eu"),
    )
    .expect(
        "dev.eu/environment.yaml:4: metadata.name:",
        "environment name",
    ));
    add(Case::new("names", "a container name with a space")
        .file(
            "base/web.yaml",
            web("", "").replace("- name: app", "- name: \"my app\""),
        )
        .expect(
            "base/web.yaml:10: spec.taskDefinition.containers[0].name:",
            "container name",
        ));
    add(Case::new("names", "a port name ECS refuses")
        .file(
            "base/web.yaml",
            web("", "").replace("containerPort: 80 }", "containerPort: 80, name: HTTP }"),
        )
        .expect(
            "base/web.yaml:12: spec.taskDefinition.containers[0].portMappings[0].name:",
            "port name",
        ));
    add(Case::new("names", "a volume name with a terminal escape")
        .file(
            "base/web.yaml",
            web("", "").replace(
                "    containers:\n",
                "    volumes: [{ name: \"da\\e[2Jta\" }]\n    containers:\n",
            ),
        )
        .expect(
            "base/web.yaml:9: spec.taskDefinition.volumes[0].name: volume name `da\\u{1b}[2Jta`",
            "must be",
        ));
    add(
        Case::new("names", "a mount point of a volume the task does not have")
            .file(
                "base/web.yaml",
                web(
                    "        mountPoints: [{ sourceVolume: data, containerPath: /data }]\n",
                    "",
                ),
            )
            .expect(
                "base/web.yaml:13: spec.taskDefinition.containers[0].mountPoints[0].sourceVolume:",
                "no volume `data`",
            ),
    );
    add(Case::new("secret", "a token as a Service Connect DNS name")
        .file(
            "base/web.yaml",
            web(
                "",
                &format!("  serviceConnect:\n    services:\n      - portName: http\n        clientAliases: [{{ port: 80, dnsName: \"{GITHUB_TOKEN}\" }}]\n"),
            )
            .replace("containerPort: 80 }", "containerPort: 80, name: http }"),
        )
        .expect(
            "base/web.yaml:16: spec.serviceConnect.services[0].clientAliases[0].dnsName:",
            "is not a DNS name",
        )
        .secret(GITHUB_TOKEN));
    add(Case::new("names", "an image with a space")
        .file(
            "base/web.yaml",
            web("", "").replace("image: app", "image: \"nginx:1 latest\""),
        )
        .expect(
            "base/web.yaml:11: spec.taskDefinition.containers[0].image:",
            "1-255",
        ));

    // --- Output that cannot lie. ---
    add(Case::new("output", "a name that forges an ok line")
        .file(
            "base/web.yaml",
            service_named("\"x\\nok dev: 1 service(s), 1 repository\""),
        )
        .expect(
            "base/web.yaml:4: metadata.name: service name `x\\nok dev",
            "must be",
        ));
    add(Case::new("output", "a terminal escape in a tag key")
        .file(
            "base/web.yaml",
            web("", "  tags: { \"\\e[2J\\e[31mx\": y }\n"),
        )
        .expect("base/web.yaml:13: spec.tags.\\u{1b}[2J", "1-128"));
    add(Case::new("output", "a right-to-left override in a container name")
        .file("base/web.yaml", web("", "").replace("- name: app", "- name: \"app\\u202Etxt\""))
        .expect("base/web.yaml:10: spec.taskDefinition.containers[0].name: container name `app\\u{202e}txt`", "must be"));
    add(Case::new("output", "a file name with a line break")
        .file("base/evil\nok dev: 1 service(s).yaml", "apiVersion: [\n")
        .expect("base/evil\\nok dev: 1 service(s).yaml:", "invalid YAML"));
    add(Case::new("output", "a carriage return in an unknown field")
        .file("base/web.yaml", web("", "  \"x\\rok\": 1\n"))
        .expect("base/web.yaml:13: spec.x\\rok:", "unknown field"));

    // --- YAML edge cases. ---
    add(Case::new("yaml", "a byte-order mark does not shift lines")
        .file(
            "base/web.yaml",
            [
                b"\xef\xbb\xbf".as_slice(),
                web("        imagePullPolicy: Always\n", "").as_bytes(),
            ]
            .concat(),
        )
        .expect(
            "base/web.yaml:13: spec.taskDefinition.containers[0].imagePullPolicy:",
            "unknown field",
        ));
    let mut latin1 = web("", "").into_bytes();
    latin1.extend_from_slice(b"  tags: { caf\xe9: x }\n");
    add(Case::new("yaml", "invalid UTF-8 has its line")
        .file("base/web.yaml", latin1)
        .expect("base/web.yaml:13: invalid YAML: not valid UTF-8", "0xe9"));
    add(Case::new("yaml", "a UTF-16 file")
        .file("base/wide.yaml", [0xff_u8, 0xfe, b'a', 0, b':', 0].to_vec())
        .expect(
            "base/wide.yaml:1: invalid YAML: not valid UTF-8",
            "byte 0xff",
        ));
    add(Case::new("yaml", "a raw NUL byte")
        .file("base/web.yaml", web("", "  desiredCount: 1\0\n"))
        .expect(
            "base/web.yaml:13: invalid YAML: control character U+0000",
            "escape",
        ));
    for (tag, what) in [
        ("!!python/object/apply:os.system [\"id\"]", "python"),
        ("!Ref MyTargetGroup", "!Ref"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!GetAtt [Lb, Arn]", "!GetAtt"),
        ("!!js/function 'function(){}'", "js"),
    ] {
        add(Case::new("yaml", &format!("the tag {what}"))
            .file(
                "base/web.yaml",
                web("", &format!("  healthCheckGracePeriodSeconds: {tag}\n")),
            )
            .expect("base/web.yaml:13: invalid YAML: the tag", "not supported"));
    }
    add(Case::new("yaml", "a tag on a mapping")
        .file(
            "base/web.yaml",
            web("", "  deployment: !Deployment { maximumPercent: 200 }\n"),
        )
        .expect(
            "base/web.yaml:13: invalid YAML: the tag `!Deployment`",
            "not supported",
        ));
    add(Case::new("yaml", "a %TAG directive redefining !!")
        .file(
            "base/web.yaml",
            format!(
                "%TAG !! tag:evil.example,2000:\n---\n{}",
                web("", "  desiredCount: !!int 2\n")
            ),
        )
        .expect("base/web.yaml:15: invalid YAML: the tag", "not supported"));

    // --- The local platform stays inside the repository. ---
    for (name, commands, line, field) in [
        (
            "a working folder with ..",
            "    commands:\n      app: { command: [app], workingDir: ../../etc }\n",
            10,
            "spec.local.commands.app.workingDir",
        ),
        (
            "an absolute working folder",
            "    commands:\n      app: { command: [app], workingDir: /tmp }\n",
            10,
            "spec.local.commands.app.workingDir",
        ),
        (
            "a relative command climbing out",
            "    commands:\n      app: { command: [../../bin/sh] }\n",
            10,
            "spec.local.commands.app.command[0]",
        ),
        (
            "an absolute command",
            "    commands:\n      app: { command: [/bin/sh, -c, id] }\n",
            10,
            "spec.local.commands.app.command[0]",
        ),
        (
            "a command climbing out midway",
            "    commands:\n      app:\n        command: [bin/../../../x]\n",
            11,
            "spec.local.commands.app.command[0]",
        ),
    ] {
        add(Case::new("local", name)
            .file("lab/environment.yaml", lab(commands))
            .expect(
                &format!("lab/environment.yaml:{line}: {field}:"),
                "leaves the repository",
            ));
    }
    cases
}
