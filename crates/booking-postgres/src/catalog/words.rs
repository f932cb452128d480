//! Words as the catalog's search sees them, split here so that PostgreSQL's
//! text-search parser never decides what a word is: it receives runs of
//! letters and digits separated by single spaces, and only folds case and
//! accents (and stems, for the stemmed half of a document).

/// Words longer than this are cut, as the memory catalog cuts them (no
/// real word is; it keeps every word far under PostgreSQL's 2 KB lexeme
/// limit).
const MAX_WORD_CHARS: usize = 40;

/// The words of `text`: runs of letters and digits (the port's definition
/// of a word), each cut to [`MAX_WORD_CHARS`] characters.
pub(super) fn split(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(cut).collect()
}

/// The words of every text, separated by spaces: what a document is built
/// from.
pub(super) fn joined<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for text in texts {
        for word in split(text) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&word);
        }
    }
    out
}

fn cut(word: &str) -> String {
    match word.char_indices().nth(MAX_WORD_CHARS) {
        Some((at, _)) => word[..at].to_owned(),
        None => word.to_owned(),
    }
}

/// A name as the case-blind filters compare it (`city`, `category`): the
/// Unicode lower case, as [`booking_core::catalog::same_text`] compares.
pub(super) fn key(name: &str) -> String {
    name.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_runs_of_letters_and_digits() {
        assert_eq!(split("AC/DC: Live-2030, Beyoncé!"), vec!["AC", "DC", "Live", "2030", "Beyoncé"]);
        assert!(split(" -- !? ").is_empty());
        assert_eq!(split(&"é".repeat(100))[0].chars().count(), MAX_WORD_CHARS);
        assert_eq!(joined(["Café  Müller", "", "Zoë/Björk"]), "Café Müller Zoë Björk");
        assert_eq!(key("ÉVRY"), "évry");
    }
}
