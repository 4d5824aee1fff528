//! Which files of which snapshots a set of unusable blobs affects.
//!
//! `check` finds damaged and missing blobs object by object; a person needs
//! to know what that costs them: "snapshot 3fa2c1d0: documents/facture/FA2605-0001.pdf".
//! This walks each snapshot's trees, by path, and names every file whose
//! content (or content list) touches an unusable blob, and every folder whose
//! listing cannot be read. Snapshots share most trees, so each tree's answer is
//! computed once.

use crate::format::tree::{Content, NodeKind, TreeBlob};
use crate::id::BlobId;
use crate::repo::Repository;
use crate::tree::dir_entries;
use std::collections::{HashMap, HashSet};

/// Which blobs can be read: indexed, in a pack that exists, and not found damaged.
#[derive(Clone, Debug, Default)]
pub struct Usable {
    /// Blobs listed in an index file whose pack exists.
    pub present: HashSet<BlobId>,
    /// Blobs that failed verification when their pack was read (`--read-data`).
    pub damaged: HashSet<BlobId>,
}

impl Usable {
    pub fn ok(&self, id: &BlobId) -> bool {
        self.present.contains(id) && !self.damaged.contains(id)
    }

    /// Nothing is known to be wrong.
    pub fn all_fine(&self) -> bool {
        self.damaged.is_empty()
    }
}

/// The path named for a folder whose listing itself is lost.
pub const UNREADABLE_DIR_SUFFIX: &str = "/ (folder listing unreadable)";

/// What is named when a snapshot's root folder itself cannot be read.
pub const ROOT_UNREADABLE: &str = "(everything: the root folder listing is unreadable)";

/// Paths below each tree that are affected, memoized across snapshots.
pub struct DamageWalk<'r> {
    repo: &'r Repository,
    usable: &'r Usable,
    dirs: HashMap<BlobId, Vec<String>>,
    contents: HashMap<BlobId, bool>,
}

impl<'r> DamageWalk<'r> {
    pub fn new(repo: &'r Repository, usable: &'r Usable) -> Self {
        Self {
            repo,
            usable,
            dirs: HashMap::new(),
            contents: HashMap::new(),
        }
    }

    /// Affected paths under a snapshot root, relative to it, sorted.
    pub fn affected(&mut self, root: &BlobId) -> Vec<String> {
        let mut out = self.dir(root).clone();
        if out.len() == 1 && out[0] == UNREADABLE_DIR_SUFFIX {
            return vec![ROOT_UNREADABLE.to_string()];
        }
        for p in &mut out {
            if let Some(rest) = p.strip_prefix('/') {
                *p = rest.to_string();
            }
        }
        out.sort();
        out
    }

    /// Paths relative to the folder `tree`, each starting with `/`; a lone
    /// [`UNREADABLE_DIR_SUFFIX`] entry means the folder's own listing is lost.
    fn dir(&mut self, tree: &BlobId) -> &Vec<String> {
        if !self.dirs.contains_key(tree) {
            // Provisional entry: a forged cycle of trees ends here.
            self.dirs.insert(*tree, Vec::new());
            let found = self.compute_dir(tree);
            self.dirs.insert(*tree, found);
        }
        &self.dirs[tree]
    }

    fn compute_dir(&mut self, tree: &BlobId) -> Vec<String> {
        let lost = vec![UNREADABLE_DIR_SUFFIX.to_string()];
        if !self.dir_pieces_ok(tree, 0) {
            return lost;
        }
        let Ok(nodes) = dir_entries(self.repo, tree) else {
            return lost;
        };
        let mut out = Vec::new();
        for n in nodes {
            let name = format!("/{}", n.name_lossy());
            match &n.kind {
                NodeKind::Dir { tree: sub } => {
                    for p in self.dir(sub).clone() {
                        out.push(format!("{name}{p}"));
                    }
                }
                NodeKind::File { content } => {
                    if !self.content_ok(content) {
                        out.push(name);
                    }
                }
                NodeKind::Symlink { .. } => {}
            }
        }
        out
    }

    /// Every piece of a directory (inner and leaf) is usable.
    pub fn dir_pieces_ok(&self, tree: &BlobId, depth: usize) -> bool {
        if !self.usable.ok(tree) || depth > 64 {
            return false;
        }
        match self.repo.read_tree(tree).as_deref() {
            Ok(TreeBlob::DirLeaf(_)) => true,
            Ok(TreeBlob::DirInner(refs)) => {
                refs.iter().all(|r| self.dir_pieces_ok(&r.blob, depth + 1))
            }
            _ => false,
        }
    }

    /// Is a file's whole content readable as far as blobs go?
    pub fn content_ok(&mut self, content: &Content) -> bool {
        match content {
            Content::Inline(refs) => refs.iter().all(|r| self.usable.ok(&r.id)),
            Content::List(root) => self.list_ok(root, 0),
        }
    }

    fn list_ok(&mut self, id: &BlobId, depth: usize) -> bool {
        if let Some(&ok) = self.contents.get(id) {
            return ok;
        }
        let ok = depth <= 64
            && self.usable.ok(id)
            && match self.repo.read_tree(id).as_deref() {
                Ok(TreeBlob::ContentLeaf(refs)) => refs.iter().all(|r| self.usable.ok(&r.id)),
                Ok(TreeBlob::ContentInner(refs)) => {
                    let children: Vec<BlobId> = refs.iter().map(|r| r.blob).collect();
                    children.iter().all(|c| self.list_ok(c, depth + 1))
                }
                _ => false,
            };
        self.contents.insert(*id, ok);
        ok
    }
}
