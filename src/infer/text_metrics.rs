//! Scores of generated text against references: corpus BLEU as sacreBLEU computes it by default
//! (13a tokenisation, up to 4-grams, "exp" smoothing, one reference per sentence) and ROUGE-L F as
//! Google's `rouge-score` computes it (lowercased alphanumeric tokens, no stemming), averaged over
//! the rows. Scores are 0–100 (BLEU) and 0–1 (ROUGE-L), as those tools print them.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

const MAX_ORDER: usize = 4;

/// sacreBLEU's `13a` tokenizer (mteval-v13a): HTML entities, then punctuation split off, periods
/// and commas kept inside numbers, dashes after digits split.
pub fn tokenize_13a(line: &str) -> String {
    static RULES: LazyLock<[(Regex, &str); 4]> = LazyLock::new(|| {
        let r = |p: &str| Regex::new(p).expect("a valid pattern");
        [
            (r(r"([\{-~\[-` -&\(-\+:-@/])"), " $1 "),
            (r(r"([^0-9])([\.,])"), "$1 $2 "),
            (r(r"([\.,])([^0-9])"), " $1 $2"),
            (r(r"([0-9])(-)"), "$1 $2 "),
        ]
    });
    let mut line = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    }
    let mut line = format!(" {line} ");
    for (re, with) in RULES.iter() {
        line = re.replace_all(&line, *with).into_owned();
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ngrams(tokens: &[&str]) -> HashMap<Vec<String>, usize> {
    let mut counts = HashMap::new();
    for n in 1..=MAX_ORDER {
        for gram in tokens.windows(n) {
            *counts.entry(gram.iter().map(|t| t.to_string()).collect()).or_insert(0) += 1;
        }
    }
    counts
}

/// Corpus BLEU of `hypotheses` against one reference each (sacreBLEU's `corpus_bleu` defaults).
/// Lengths must match.
pub fn corpus_bleu(hypotheses: &[String], references: &[String]) -> f64 {
    assert_eq!(hypotheses.len(), references.len(), "one reference per hypothesis");
    let (mut correct, mut total) = ([0usize; MAX_ORDER], [0usize; MAX_ORDER]);
    let (mut sys_len, mut ref_len) = (0usize, 0usize);
    for (hyp, reference) in hypotheses.iter().zip(references) {
        let (hyp, reference) = (tokenize_13a(hyp), tokenize_13a(reference));
        let hyp: Vec<&str> = hyp.split_whitespace().collect();
        let reference: Vec<&str> = reference.split_whitespace().collect();
        sys_len += hyp.len();
        ref_len += reference.len();
        let ref_counts = ngrams(&reference);
        for (gram, count) in ngrams(&hyp) {
            total[gram.len() - 1] += count;
            correct[gram.len() - 1] += count.min(ref_counts.get(&gram).copied().unwrap_or(0));
        }
    }
    let brevity = if sys_len < ref_len { if sys_len > 0 { (1.0 - ref_len as f64 / sys_len as f64).exp() } else { 0.0 } } else { 1.0 };
    if correct.iter().all(|&c| c == 0) {
        return 0.0;
    }
    let mut precisions = [0.0f64; MAX_ORDER];
    let mut smooth = 1.0;
    for n in 0..MAX_ORDER {
        if total[n] == 0 {
            break;
        }
        precisions[n] = if correct[n] == 0 {
            smooth *= 2.0;
            100.0 / (smooth * total[n] as f64)
        } else {
            100.0 * correct[n] as f64 / total[n] as f64
        };
    }
    let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
    brevity * (precisions.iter().map(|&p| log(p)).sum::<f64>() / MAX_ORDER as f64).exp()
}

/// `rouge-score`'s tokens: lowercased, runs of anything but a–z and 0–9 are separators.
fn rouge_tokens(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    lower.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit())).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// ROUGE-L F-measure of one prediction against its target (longest common subsequence of tokens).
pub fn rouge_l(prediction: &str, target: &str) -> f64 {
    let (p, t) = (rouge_tokens(prediction), rouge_tokens(target));
    if p.is_empty() || t.is_empty() {
        return 0.0;
    }
    let mut row = vec![0usize; p.len() + 1];
    for tok in &t {
        let mut diagonal = 0;
        for (j, cand) in p.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if tok == cand { diagonal + 1 } else { row[j + 1].max(row[j]) };
            diagonal = above;
        }
    }
    let lcs = row[p.len()] as f64;
    let (precision, recall) = (lcs / p.len() as f64, lcs / t.len() as f64);
    if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 }
}

/// The mean ROUGE-L F over pairs (0 for none).
pub fn mean_rouge_l(predictions: &[String], targets: &[String]) -> f64 {
    if predictions.is_empty() {
        return 0.0;
    }
    predictions.iter().zip(targets).map(|(p, t)| rouge_l(p, t)).sum::<f64>() / predictions.len() as f64
}
