//! A small inverted index with BM25F ranking, prefix matching on the last
//! query word and typo tolerance through a trigram index of the
//! vocabulary checked by a bounded edit distance.
//!
//! Documents have five weighted fields. A query matches a document when
//! every query word matches one of its words (exactly, as a prefix for the
//! last word, or within the typo distance); its score sums, per query word,
//! the best BM25F score among the words it matches, scaled by how it
//! matched.

use super::text::{distance_within, max_edits, trigrams, words};
use crate::hash::IdHash;
use std::collections::{BTreeMap, HashMap};

/// Scores by document.
pub(crate) type Scores = HashMap<u32, f64, IdHash>;

/// Fields of a document, in weight order.
pub(crate) const FIELDS: usize = 5;
/// The event's title.
pub(crate) const TITLE: usize = 0;
/// Its performers.
pub(crate) const PERFORMERS: usize = 1;
/// Its categories.
pub(crate) const CATEGORIES: usize = 2;
/// The venue's name and city.
pub(crate) const VENUE: usize = 3;
/// The event's description.
pub(crate) const DESCRIPTION: usize = 4;

/// Field weights: title and performers above categories and venue, those
/// above the description.
const WEIGHTS: [f64; FIELDS] = [4.0, 3.0, 2.0, 1.5, 1.0];
/// BM25 term-frequency saturation.
const K1: f64 = 1.2;
/// BM25 length normalization.
const B: f64 = 0.75;
/// Score factors by kind of match.
const PREFIX: f64 = 0.7;
const TYPO: [f64; 3] = [1.0, 0.5, 0.3];
/// The most vocabulary words one prefix expands to (the shortest first).
const MAX_PREFIX_WORDS: usize = 256;

#[derive(Debug)]
struct Posting {
    doc: u32,
    tf: [u16; FIELDS],
}

#[derive(Debug, Default)]
struct Term {
    word: String,
    postings: Vec<Posting>,
}

#[derive(Debug)]
struct Doc {
    lens: [u32; FIELDS],
    terms: Vec<u32>,
}

/// The index. Documents are numbered by the index; the caller maps them to
/// its keys.
#[derive(Debug, Default)]
pub(crate) struct Index {
    terms: Vec<Term>,
    free_terms: Vec<u32>,
    by_word: BTreeMap<String, u32>,
    by_trigram: HashMap<[char; 3], Vec<u32>>,
    docs: Vec<Option<Doc>>,
    free_docs: Vec<u32>,
    len_sums: [u64; FIELDS],
    live: u32,
}

impl Index {
    /// Adds a document of the given field texts; returns its number.
    pub(crate) fn add(&mut self, fields: [&str; FIELDS]) -> u32 {
        let doc = match self.free_docs.pop() {
            Some(d) => d,
            None => {
                self.docs.push(None);
                (self.docs.len() - 1) as u32
            }
        };
        let mut tfs: BTreeMap<String, [u16; FIELDS]> = BTreeMap::new();
        let mut lens = [0u32; FIELDS];
        for (f, text) in fields.iter().enumerate() {
            for w in words(text) {
                lens[f] += 1;
                let tf = &mut tfs.entry(w).or_default()[f];
                *tf = tf.saturating_add(1);
            }
        }
        let mut terms = Vec::with_capacity(tfs.len());
        for (word, tf) in tfs {
            let t = self.term(word);
            self.terms[t as usize].postings.push(Posting { doc, tf });
            terms.push(t);
        }
        for (sum, len) in self.len_sums.iter_mut().zip(lens) {
            *sum += u64::from(len);
        }
        self.live += 1;
        self.docs[doc as usize] = Some(Doc { lens, terms });
        doc
    }

    /// Removes a document.
    pub(crate) fn remove(&mut self, doc: u32) {
        let Some(d) = self.docs.get_mut(doc as usize).and_then(Option::take) else { return };
        for (sum, len) in self.len_sums.iter_mut().zip(d.lens) {
            *sum -= u64::from(len);
        }
        self.live -= 1;
        for t in d.terms {
            let term = &mut self.terms[t as usize];
            if let Some(i) = term.postings.iter().position(|p| p.doc == doc) {
                term.postings.swap_remove(i);
            }
            if term.postings.is_empty() {
                self.forget(t);
            }
        }
        self.free_docs.push(doc);
    }

    /// The term id of `word`, adding it to the vocabulary if new.
    fn term(&mut self, word: String) -> u32 {
        if let Some(&t) = self.by_word.get(&word) {
            return t;
        }
        let t = match self.free_terms.pop() {
            Some(t) => t,
            None => {
                self.terms.push(Term::default());
                (self.terms.len() - 1) as u32
            }
        };
        for g in trigrams(&word) {
            self.by_trigram.entry(g).or_default().push(t);
        }
        self.by_word.insert(word.clone(), t);
        self.terms[t as usize] = Term { word, postings: Vec::new() };
        t
    }

    /// Drops a term no document has any more.
    fn forget(&mut self, t: u32) {
        let word = std::mem::take(&mut self.terms[t as usize].word);
        for g in trigrams(&word) {
            if let Some(list) = self.by_trigram.get_mut(&g) {
                if let Some(i) = list.iter().position(|&x| x == t) {
                    list.swap_remove(i);
                }
                if list.is_empty() {
                    self.by_trigram.remove(&g);
                }
            }
        }
        self.by_word.remove(&word);
        self.free_terms.push(t);
    }

    /// The vocabulary words `query` matches, with their factors: itself,
    /// words it begins (when `prefix`), words within its typo distance.
    fn expand(&self, query: &str, prefix: bool) -> Vec<(u32, f64)> {
        let mut out: HashMap<u32, f64> = HashMap::new();
        let mut offer = |t: u32, f: f64| {
            let e = out.entry(t).or_insert(f);
            *e = e.max(f);
        };
        if let Some(&t) = self.by_word.get(query) {
            offer(t, 1.0);
        }
        if prefix {
            let mut longer: Vec<(&String, u32)> = self
                .by_word
                .range::<str, _>((std::ops::Bound::Excluded(query), std::ops::Bound::Unbounded))
                .take_while(|(w, _)| w.starts_with(query))
                .map(|(w, &t)| (w, t))
                .collect();
            longer.sort_by_key(|(w, _)| (w.len(), *w));
            for (_, t) in longer.into_iter().take(MAX_PREFIX_WORDS) {
                offer(t, PREFIX);
            }
        }
        let q: Vec<char> = query.chars().collect();
        let edits = max_edits(q.len());
        if edits > 0 {
            let grams = trigrams(query);
            // A word within `edits` edits shares all but 4 trigrams per edit.
            let need = grams.len().saturating_sub(4 * edits).max(1);
            let mut shared: HashMap<u32, usize> = HashMap::new();
            for g in &grams {
                for &t in self.by_trigram.get(g).map(Vec::as_slice).unwrap_or_default() {
                    *shared.entry(t).or_default() += 1;
                }
            }
            for (t, n) in shared {
                if n < need {
                    continue;
                }
                let w: Vec<char> = self.terms[t as usize].word.chars().collect();
                if let Some(d) = distance_within(&q, &w, edits).filter(|&d| d > 0) {
                    offer(t, TYPO[d.min(2)]);
                }
            }
        }
        out.into_iter().collect()
    }

    /// The BM25F score of term `t` in the document of `posting`.
    fn score(&self, t: &Term, posting: &Posting) -> f64 {
        let n = f64::from(self.live.max(1));
        let df = t.postings.len() as f64;
        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        let Some(Some(doc)) = self.docs.get(posting.doc as usize) else { return 0.0 };
        let mut wtf = 0.0;
        for (f, weight) in WEIGHTS.iter().enumerate() {
            if posting.tf[f] == 0 {
                continue;
            }
            let avg = (self.len_sums[f] as f64 / n).max(1.0);
            let norm = 1.0 - B + B * f64::from(doc.lens[f]) / avg;
            wtf += weight * f64::from(posting.tf[f]) / norm;
        }
        idf * wtf * (K1 + 1.0) / (wtf + K1)
    }

    /// The documents matching every word of `query` (the last one also as
    /// a prefix), with their scores.
    pub(crate) fn search(&self, query: &[String]) -> Scores {
        let mut scores: Option<Scores> = None;
        for (i, word) in query.iter().enumerate() {
            let mut best = Scores::default();
            for (t, factor) in self.expand(word, i + 1 == query.len()) {
                let term = &self.terms[t as usize];
                for p in &term.postings {
                    if scores.as_ref().is_some_and(|s| !s.contains_key(&p.doc)) {
                        continue;
                    }
                    let s = factor * self.score(term, p);
                    let e = best.entry(p.doc).or_insert(s);
                    *e = e.max(s);
                }
            }
            scores = Some(match scores {
                None => best,
                Some(prev) => best.into_iter().filter_map(|(d, s)| prev.get(&d).map(|p| (d, p + s))).collect(),
            });
            if scores.as_ref().is_some_and(Scores::is_empty) {
                break;
            }
        }
        scores.unwrap_or_default()
    }

    /// Documents indexed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live as usize
    }

    /// Words in the vocabulary.
    #[cfg(test)]
    pub(crate) fn vocabulary(&self) -> usize {
        self.by_word.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(title: &str, performers: &str, description: &str) -> [String; FIELDS] {
        [title.into(), performers.into(), String::new(), "Hall Paris".into(), description.into()]
    }

    fn add(ix: &mut Index, d: &[String; FIELDS]) -> u32 {
        ix.add([&d[0], &d[1], &d[2], &d[3], &d[4]])
    }

    fn q(ix: &Index, text: &str) -> Vec<u32> {
        let mut hits: Vec<(u32, f64)> = ix.search(&words(text)).into_iter().collect();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        hits.into_iter().map(|(d, _)| d).collect()
    }

    #[test]
    fn ranks_title_over_description_exact_over_typo_and_prefix() {
        let mut ix = Index::default();
        let a = add(&mut ix, &doc("Moonlight Sonata", "", "An evening of piano music"));
        let b = add(&mut ix, &doc("Late Night Piano", "", "Includes the Moonlight Sonata and more"));
        let c = add(&mut ix, &doc("Carmen", "Luciano Pavarotti", ""));
        let d = add(&mut ix, &doc("Carmel", "", ""));
        assert_eq!(q(&ix, "moonlight"), vec![a, b]);
        assert_eq!(q(&ix, "moonlight sonata"), vec![a, b]);
        assert_eq!(q(&ix, "moonl"), vec![a, b]);
        assert_eq!(q(&ix, "sonata moonl"), vec![a, b]);
        assert_eq!(q(&ix, "pavarotty"), vec![c]);
        assert_eq!(q(&ix, "carmen"), vec![c, d]);
        assert_eq!(q(&ix, "carmen piano"), Vec::<u32>::new(), "every word must match");
        assert!(q(&ix, "zzz").is_empty());
    }

    #[test]
    fn removal_forgets_words_and_reuses_numbers() {
        let mut ix = Index::default();
        let a = add(&mut ix, &doc("Alpha Tour", "", ""));
        let b = add(&mut ix, &doc("Beta Tour", "", ""));
        let words_before = ix.vocabulary();
        ix.remove(a);
        ix.remove(a);
        assert_eq!((ix.len(), q(&ix, "tour")), (1, vec![b]));
        assert!(q(&ix, "alpha").is_empty());
        assert_eq!(ix.vocabulary(), words_before - 1);
        let c = add(&mut ix, &doc("Gamma Tour", "", ""));
        assert_eq!(c, a, "the free number is reused");
        assert_eq!(q(&ix, "gamma"), vec![c]);
    }
}
