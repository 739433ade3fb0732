//! `meta.properties` in the data dir (the first of `log.dirs`), as `kafka-storage format` writes
//! it: Kafka's tools read a node's `directory.id` there (`kafka-metadata-quorum add-controller`
//! takes the new voter's key from it). gregor needs no format step: the file is written at
//! start-up, and its directory id, drawn once, is kept across restarts.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

const FILE: &str = "meta.properties";

/// The directory id in `dir`'s meta.properties, or a new one when there is none (a new or
/// wiped data dir, which Kafka also gives a new id).
pub fn directory_id(dir: &Path) -> std::io::Result<Uuid> {
    match std::fs::read_to_string(dir.join(FILE)) {
        Ok(text) => Ok(text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("directory.id="))
            .find_map(decode)
            .unwrap_or_else(Uuid::new_v4)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Uuid::new_v4()),
        Err(e) => Err(e),
    }
}

/// Writes `dir`'s meta.properties (version 1: cluster id, node id, directory id) unless it
/// already says the same.
pub fn write(dir: &Path, cluster_id: &str, node_id: i32, directory_id: Uuid) -> std::io::Result<()> {
    let mut text =
        format!("#\n#Written by gregor\nnode.id={node_id}\ndirectory.id={}\nversion=1\n", encode(directory_id));
    if !cluster_id.is_empty() {
        text.push_str(&format!("cluster.id={cluster_id}\n"));
    }
    let path = dir.join(FILE);
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    let tmp = dir.join(format!("{FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

/// Kafka's text form of a Uuid: its 16 bytes in URL-safe base64 without padding.
pub fn encode(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn decode(text: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    Uuid::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_id_is_drawn_once_and_read_back_as_kafka_writes_it() {
        let dir = std::env::temp_dir().join(format!("gregor-meta-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let id = directory_id(&dir).unwrap();
        write(&dir, "MkU3OEVBNTcwNTJENDM2Qk", 3, id).unwrap();
        assert_eq!(directory_id(&dir).unwrap(), id, "kept across restarts");
        let text = std::fs::read_to_string(dir.join(FILE)).unwrap();
        assert!(text.contains("node.id=3\n") && text.contains("version=1\n"));
        assert!(text.contains("cluster.id=MkU3OEVBNTcwNTJENDM2Qk\n"));
        // Kafka's own form: 22 characters of URL-safe base64 (Uuid.toString).
        assert_eq!(decode("AAAAAAAAAAAAAAAAAAAAAQ"), Some(Uuid::from_u128(1)));
        assert_eq!(encode(Uuid::from_u128(1)), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(decode("not base64!"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
