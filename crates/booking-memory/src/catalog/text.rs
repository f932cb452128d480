//! Words: splitting text into normalized words, trigrams of a word, and a
//! bounded edit distance for typo tolerance.

/// Words longer than this are cut (no real word is; it bounds the work a
/// hostile text can cause).
pub(crate) const MAX_WORD_CHARS: usize = 40;

/// The words of `text`: runs of letters and digits, lower-cased, with
/// common Latin accents removed ("Beyoncé" is "beyonce").
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = 0;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if chars < MAX_WORD_CHARS {
                for l in c.to_lowercase() {
                    fold(l, &mut word);
                }
            }
            chars += 1;
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
            chars = 0;
        } else {
            chars = 0;
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Appends `c` without its accent.
fn fold(c: char, out: &mut String) {
    let plain = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'č' | 'ĉ' | 'ċ' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' | 'ĝ' | 'ģ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' | 'ľ' | 'ļ' => "l",
        'ñ' | 'ń' | 'ň' | 'ņ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'ř' | 'ŕ' => "r",
        'ś' | 'š' | 'ş' | 'ș' => "s",
        'ť' | 'ţ' | 'ț' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        _ => {
            out.push(c);
            return;
        }
    };
    out.push_str(plain);
}

/// A word's trigrams, the word padded with one space each side
/// ("cat": " ca", "cat", "at "). A word of n characters has n.
pub(crate) fn trigrams(word: &str) -> Vec<[char; 3]> {
    let padded: Vec<char> = std::iter::once(' ').chain(word.chars()).chain(std::iter::once(' ')).collect();
    let mut out: Vec<[char; 3]> = padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// How many edits a query word of `len` characters may be from a word it
/// matches: none below 5 characters, one up to 8, two from 9.
pub(crate) fn max_edits(len: usize) -> usize {
    match len {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// The optimal-string-alignment distance between `a` and `b` (insertions,
/// deletions, substitutions and swaps of neighbours), if at most `max`.
pub(crate) fn distance_within(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    // Three rows of the dynamic-programming table.
    let mut prev2 = vec![0usize; w];
    let mut prev: Vec<usize> = (0..w).collect();
    let mut cur = vec![0usize; w];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..w {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= max).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(a: &str, b: &str, max: usize) -> Option<usize> {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        distance_within(&a, &b, max)
    }

    #[test]
    fn words_are_lower_case_without_accents() {
        assert_eq!(words("Beyoncé & THE Straße-Band, 2030!"), vec!["beyonce", "the", "strasse", "band", "2030"]);
        assert_eq!(words("  --  "), Vec::<String>::new());
        assert_eq!(words(&"x".repeat(100))[0].len(), MAX_WORD_CHARS);
    }

    #[test]
    fn distances_are_bounded() {
        assert_eq!(d("pavarotti", "pavarotty", 2), Some(1));
        assert_eq!(d("domingo", "domnigo", 1), Some(1), "a swap is one edit");
        assert_eq!(d("carmen", "carmel", 1), Some(1));
        assert_eq!(d("kitten", "sitting", 3), Some(3));
        assert_eq!(d("kitten", "sitting", 2), None);
        assert_eq!(d("abc", "abcdef", 2), None);
        assert_eq!(d("", "ab", 2), Some(2));
    }

    #[test]
    fn trigrams_pad_the_word() {
        assert_eq!(trigrams("cat"), vec![[' ', 'c', 'a'], ['a', 't', ' '], ['c', 'a', 't']]);
        assert_eq!(trigrams("a"), vec![[' ', 'a', ' ']]);
    }
}
