//! A fitted scikit-learn `LogisticRegression` as a Python pickle (protocol 3), the
//! `model_head.pkl` setfit's `SetFitModel.from_pretrained` loads with joblib. Only the opcodes
//! that build this one object are written: the class by name, its state dict (scikit-learn
//! 1.9's attributes) and numpy arrays as numpy itself pickles them.

/// The scikit-learn version whose attributes the state dict holds.
pub const SKLEARN_VERSION: &str = "1.9.1";

/// A value of the state dict.
enum Value<'a> {
    Str(&'a str),
    Float(f64),
    Int(i32),
    Bool(bool),
    None,
    /// Row-major values with their shape, as float64, int64 or int32 arrays.
    F64(Vec<f64>, Vec<usize>),
    I64(Vec<i64>),
    I32(Vec<i32>),
}

struct Writer(Vec<u8>);

impl Writer {
    fn global(&mut self, module: &str, name: &str) {
        self.0.push(b'c');
        self.0.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }

    fn str(&mut self, s: &str) {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, i: i32) {
        self.0.push(b'J');
        self.0.extend_from_slice(&i.to_le_bytes());
    }

    fn tuple(&mut self, items: usize) {
        match items {
            0 => self.0.push(b')'),
            1 => self.0.push(0x85),
            2 => self.0.push(0x86),
            3 => self.0.push(0x87),
            _ => unreachable!("the writer builds tuples of at most 3 items, or MARK … TUPLE"),
        }
    }

    /// `numpy._core.multiarray._reconstruct(ndarray, (0,), b'b')` then its state.
    fn array(&mut self, shape: &[usize], dtype: &str, raw: Vec<u8>) {
        self.global("numpy._core.multiarray", "_reconstruct");
        self.global("numpy", "ndarray");
        self.int(0);
        self.tuple(1);
        self.0.extend_from_slice(&[b'C', 1, b'b']);
        self.tuple(3);
        self.0.push(b'R');
        self.0.push(b'(');
        self.int(1);
        self.0.push(b'(');
        for &d in shape {
            self.int(d as i32);
        }
        self.0.push(b't');
        self.global("numpy", "dtype");
        self.str(dtype);
        self.0.extend_from_slice(&[0x89, 0x88]);
        self.tuple(3);
        self.0.push(b'R');
        self.0.push(b'(');
        self.int(3);
        self.str("<");
        self.0.extend_from_slice(b"NNN");
        self.int(-1);
        self.int(-1);
        self.int(0);
        self.0.push(b't');
        self.0.push(b'b');
        self.0.push(0x89); // not Fortran order
        self.0.push(b'B');
        self.0.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        self.0.extend_from_slice(&raw);
        self.0.push(b't');
        self.0.push(b'b');
    }

    fn value(&mut self, v: Value) {
        match v {
            Value::Str(s) => self.str(s),
            Value::Float(f) => {
                self.0.push(b'G');
                self.0.extend_from_slice(&f.to_be_bytes());
            }
            Value::Int(i) => self.int(i),
            Value::Bool(b) => self.0.push(if b { 0x88 } else { 0x89 }),
            Value::None => self.0.push(b'N'),
            Value::F64(values, shape) => self.array(&shape, "f8", values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            Value::I64(values) => self.array(&[values.len()], "i8", values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            Value::I32(values) => self.array(&[values.len()], "i4", values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        }
    }
}

/// A fitted head's values: `coef_` rows (one for two classes), `intercept_`, the class count,
/// the solver's iterations and the inverse regularisation strength `C`.
pub struct LogisticHead<'a> {
    pub coef: &'a [Vec<f64>],
    pub intercept: &'a [f64],
    pub classes: usize,
    pub iterations: usize,
    pub c: f64,
}

/// The pickle of `head` as scikit-learn would have fitted it with `LogisticRegression(C=c)`.
pub fn logistic_regression(head: &LogisticHead) -> Vec<u8> {
    let features = head.coef.first().map_or(0, Vec::len);
    let coef: Vec<f64> = head.coef.iter().flatten().copied().collect();
    let state = [
        ("penalty", Value::Str("deprecated")),
        ("C", Value::Float(head.c)),
        ("l1_ratio", Value::Float(0.0)),
        ("dual", Value::Bool(false)),
        ("tol", Value::Float(1e-4)),
        ("fit_intercept", Value::Bool(true)),
        ("intercept_scaling", Value::Int(1)),
        ("class_weight", Value::None),
        ("random_state", Value::None),
        ("solver", Value::Str("lbfgs")),
        ("max_iter", Value::Int(100)),
        ("verbose", Value::Int(0)),
        ("warm_start", Value::Bool(false)),
        ("n_jobs", Value::None),
        ("n_features_in_", Value::Int(features as i32)),
        ("classes_", Value::I64((0..head.classes as i64).collect())),
        ("n_iter_", Value::I32(vec![head.iterations.min(i32::MAX as usize) as i32])),
        ("coef_", Value::F64(coef, vec![head.coef.len(), features])),
        ("intercept_", Value::F64(head.intercept.to_vec(), vec![head.intercept.len()])),
        ("_sklearn_version", Value::Str(SKLEARN_VERSION)),
    ];
    let mut w = Writer(vec![0x80, 3]);
    w.global("sklearn.linear_model._logistic", "LogisticRegression");
    w.tuple(0);
    w.0.push(0x81); // NEWOBJ: cls.__new__(cls)
    w.0.push(b'}');
    w.0.push(b'(');
    for (key, value) in state {
        w.str(key);
        w.value(value);
    }
    w.0.push(b'u');
    w.0.push(b'b'); // BUILD: __setstate__(state)
    w.0.push(b'.');
    w.0
}

/// A `LogisticRegression` read back from a pickle (setfit's `model_head.pkl`, as joblib or webtune
/// wrote it): `coef_` rows (one for two classes), `intercept_`, and `classes_` as text, with
/// whether they are integer ids (setfit then names them in `config_setfit.json`).
#[derive(Debug, PartialEq)]
pub struct ReadHead {
    pub coef: Vec<Vec<f64>>,
    pub intercept: Vec<f64>,
    pub classes: Vec<String>,
    pub class_ids: bool,
    pub iterations: usize,
}

/// Reads a pickled scikit-learn `LogisticRegression` (multinomial, or binary) and checks its
/// arrays agree with each other.
pub fn read_logistic_regression(bytes: &[u8]) -> crate::Result<ReadHead> {
    logistic_regression_in(&super::pickle::read(bytes)?)
}

/// The `LogisticRegression` a read pickle holds.
pub fn logistic_regression_in(head: &super::pickle::Py) -> crate::Result<ReadHead> {
    use super::pickle::Py;
    let bad = |m: String| crate::Error::Weights(format!("model_head.pkl: {m}"));
    let Py::Object { class: (module, name), .. } = head else { return Err(bad("it holds no object; setfit saves a fitted scikit-learn LogisticRegression there".into())) };
    if name != "LogisticRegression" || !module.starts_with("sklearn") {
        return Err(bad(format!(
            "it holds a {module}.{name}; webtune reads setfit's heads, scikit-learn's LogisticRegression and setfit's SetFitHead (train with one of them, or with webtune)"
        )));
    }
    let array = |key: &str| match head.get(key) {
        Some(Py::Array(a)) => Ok(a),
        _ => Err(bad(format!("the LogisticRegression has no {key} array: is it fitted?"))),
    };
    let (coef, intercept, classes) = (array("coef_")?, array("intercept_")?, array("classes_")?);
    let names = classes.to_strings()?;
    let [rows, width] = coef.shape[..] else { return Err(bad(format!("coef_ has shape {:?}, not (rows, features)", coef.shape))) };
    let expected_rows = if names.len() == 2 { 1 } else { names.len() };
    if names.len() < 2 || rows != expected_rows || intercept.len() != rows {
        return Err(bad(format!("{} classes with coef_ of {rows} rows and {} intercepts", names.len(), intercept.len())));
    }
    let ovr = matches!(head.get("multi_class"), Some(Py::Str(m)) if m == "ovr") || matches!(head.get("solver"), Some(Py::Str(s)) if s == "liblinear");
    if ovr && names.len() > 2 {
        return Err(bad("a one-vs-rest head (multi_class=\"ovr\" or the liblinear solver); webtune computes the multinomial one scikit-learn fits by default".into()));
    }
    let values = coef.to_f64()?;
    let iterations = match head.get("n_iter_") {
        Some(Py::Array(a)) => a.to_f64().ok().and_then(|v| v.first().copied()).unwrap_or(0.0) as usize,
        _ => 0,
    };
    Ok(ReadHead {
        coef: values.chunks(width.max(1)).map(<[f64]>::to_vec).collect(),
        intercept: intercept.to_f64()?,
        class_ids: classes.dtype.starts_with('i'),
        classes: names,
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_head_reads_back() {
        let coef = vec![vec![0.5, -1.25, 3.0], vec![0.0, 1.0, -2.0], vec![7.5, 0.25, 1.0]];
        let intercept = vec![0.1, -0.2, 0.3];
        let bytes = logistic_regression(&LogisticHead { coef: &coef, intercept: &intercept, classes: 3, iterations: 17, c: 1.0 });
        let head = read_logistic_regression(&bytes).unwrap();
        assert_eq!(head, ReadHead { coef, intercept, classes: vec!["0".into(), "1".into(), "2".into()], class_ids: true, iterations: 17 });
    }

    #[test]
    fn broken_heads_are_errors() {
        let coef = vec![vec![0.5, -1.25]];
        let bytes = logistic_regression(&LogisticHead { coef: &coef, intercept: &[0.1], classes: 2, iterations: 3, c: 1.0 });
        for cut in 0..bytes.len() {
            assert!(read_logistic_regression(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0x5a;
            let _ = read_logistic_regression(&flipped); // an error or a value, never a panic
            flipped[i] ^= 0x5a;
        }
        // a deep nest and a memo copied out again and again are refused
        let mut deep = vec![0x80, 3];
        deep.extend(std::iter::repeat_n(b']', 200));
        deep.extend(std::iter::repeat_n(b'a', 199));
        deep.push(b'.');
        assert!(read_logistic_regression(&deep).unwrap_err().to_string().contains("nest deeper"));
        let mut copies = vec![0x80, 3, b'('];
        copies.extend(std::iter::repeat_n(b'N', 4000));
        copies.extend([b'l', b'q', 0]);
        copies.extend(std::iter::repeat_n([b'h', 0], 5000).flatten());
        copies.push(b'.');
        assert!(read_logistic_regression(&copies).unwrap_err().to_string().contains("copied out"));
        // a list grown one APPEND at a time and a dict one SETITEM at a time read in linear time
        let mut long = vec![0x80, 3, b']'];
        long.extend(std::iter::repeat_n([b'N', b'a'], 300_000).flatten());
        long.push(b'}');
        for i in 0..100_000u32 {
            long.push(b'J');
            long.extend_from_slice(&i.to_le_bytes());
            long.push(b'N');
            long.push(b's');
        }
        long.extend_from_slice(b"\x86.");
        match crate::formats::pickle::read(&long).unwrap() {
            crate::formats::pickle::Py::Tuple(t) => assert!(matches!(&t[..], [crate::formats::pickle::Py::List(l), crate::formats::pickle::Py::Dict(d)] if l.len() == 300_000 && d.len() == 100_000)),
            other => panic!("{other:?}"),
        }
        // BUILD may not take the object under a MARK (a later TUPLE would then split past the stack)
        let mut under_mark = vec![0x80, 3];
        under_mark.extend_from_slice(b"csklearn\nX\n)\x81(}b)t.");
        assert!(read_logistic_regression(&under_mark).unwrap_err().to_string().contains("past the MARK"));
    }
}
