//! A bounded reader of Python pickles (protocols 2–5) for the one kind of file webtune reads
//! back: a fitted scikit-learn estimator as `joblib.dump` or `pickle.dump` wrote it (setfit's
//! `model_head.pkl`). Nothing is imported or called: classes stay names, objects their state, and
//! numpy arrays — pickled by numpy itself or written raw after joblib's `NumpyArrayWrapper` — come
//! out as typed values. Every length is checked against the bytes left, nesting is capped, and
//! copies of memoised values are budgeted, so a hostile file is an error, never a panic or a hang.

use std::{collections::HashMap, rc::Rc};

use crate::{Error, Result};

/// How deep containers may nest.
const MAX_DEPTH: usize = 64;
/// Values copied out of the memo, in nodes, per byte of input (plus a floor).
const COPY_BUDGET_PER_BYTE: usize = 16;

/// A value of the pickle.
#[derive(Clone, Debug, PartialEq)]
pub enum Py {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Rc<Vec<u8>>),
    Tuple(Vec<Py>),
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
    /// A class or function by `module`, `name`.
    Global(String, String),
    /// An instance of `class` (module, name): the arguments it was made with and the state BUILD
    /// gave it (`Py::None` before).
    Object { class: (String, String), args: Vec<Py>, state: Box<Py> },
    /// A numpy dtype: its kind and item size as numpy spells them (`"f8"`, `"i8"`, `"U5"`, `"O8"`)
    /// and whether it is big-endian.
    Dtype { name: String, big_endian: bool },
    Array(Array),
}

/// A numpy array: shape, dtype and its values in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub dtype: String,
    pub big_endian: bool,
    pub data: ArrayData,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ArrayData {
    /// The raw items (numeric or fixed-width unicode).
    Raw(Rc<Vec<u8>>),
    /// An object array's items.
    Objects(Vec<Py>),
}

impl Py {
    /// The entry `key` of a dict (or of an object's dict state).
    pub fn get(&self, key: &str) -> Option<&Py> {
        match self {
            // a key set again later wins, as in Python
            Py::Dict(items) => items.iter().rev().find(|(k, _)| matches!(k, Py::Str(s) if s == key)).map(|(_, v)| v),
            Py::Object { state, .. } => state.get(key),
            _ => None,
        }
    }

    fn depth(&self, limit: usize) -> usize {
        if limit == 0 {
            return 1;
        }
        let children = |items: &mut dyn Iterator<Item = &Py>| items.map(|v| v.depth(limit - 1)).max().unwrap_or(0);
        1 + match self {
            Py::Tuple(v) | Py::List(v) => children(&mut v.iter()),
            Py::Dict(kv) => children(&mut kv.iter().flat_map(|(k, v)| [k, v])),
            Py::Object { args, state, .. } => children(&mut args.iter().chain(std::iter::once(&**state))),
            Py::Array(Array { data: ArrayData::Objects(v), .. }) => children(&mut v.iter()),
            _ => 0,
        }
    }

    fn nodes(&self) -> usize {
        1 + match self {
            Py::Tuple(v) | Py::List(v) => v.iter().map(Py::nodes).sum(),
            Py::Dict(kv) => kv.iter().map(|(k, v)| k.nodes() + v.nodes()).sum(),
            Py::Object { args, state, .. } => args.iter().map(Py::nodes).sum::<usize>() + state.nodes(),
            Py::Array(Array { data: ArrayData::Objects(v), .. }) => v.iter().map(Py::nodes).sum(),
            _ => 0,
        }
    }
}

impl Array {
    /// Item size in bytes, from the dtype's name (`"f8"` → 8, `"U5"` → 20).
    fn item_size(dtype: &str) -> Option<usize> {
        let (kind, size) = dtype.split_at(1.min(dtype.len()));
        let size: usize = size.parse().ok()?;
        if kind == "U" { size.checked_mul(4) } else { Some(size) }
    }

    /// The number of items the shape holds.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array holds no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items as f64 (float and integer arrays).
    pub fn to_f64(&self) -> Result<Vec<f64>> {
        let ArrayData::Raw(raw) = &self.data else { return Err(bad(format!("an object array where numbers were expected (dtype {})", self.dtype))) };
        let word = |c: &[u8]| -> [u8; 8] {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            if self.big_endian {
                w[..c.len()].reverse();
            }
            w
        };
        let out: Vec<f64> = match self.dtype.as_str() {
            "f8" => raw.chunks_exact(8).map(|c| f64::from_le_bytes(word(c))).collect(),
            "f4" => raw.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes(word(c)[..4].try_into().unwrap_or_default()))).collect(),
            "i8" => raw.chunks_exact(8).map(|c| i64::from_le_bytes(word(c)) as f64).collect(),
            "i4" => raw.chunks_exact(4).map(|c| f64::from(i32::from_le_bytes(word(c)[..4].try_into().unwrap_or_default()))).collect(),
            other => return Err(bad(format!("an array of dtype {other} where numbers were expected"))),
        };
        Ok(out)
    }

    /// The items as text: a fixed-width unicode array, or an object array of strings (numbers are
    /// written as Python's `str` would).
    pub fn to_strings(&self) -> Result<Vec<String>> {
        match &self.data {
            ArrayData::Objects(items) => items
                .iter()
                .map(|v| match v {
                    Py::Str(s) => Ok(s.clone()),
                    Py::Int(i) => Ok(i.to_string()),
                    other => Err(bad(format!("a class label of an unexpected kind ({other:?})"))),
                })
                .collect(),
            ArrayData::Raw(raw) if self.dtype.starts_with('U') => {
                let width = Self::item_size(&self.dtype).unwrap_or(4).max(4);
                raw.chunks_exact(width)
                    .map(|item| {
                        item.chunks_exact(4)
                            .map(|c| {
                                let b: [u8; 4] = c.try_into().unwrap_or_default();
                                if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
                            })
                            .take_while(|&c| c != 0)
                            .map(|c| char::from_u32(c).ok_or_else(|| bad(format!("a unicode array holds U+{c:X}, not a character"))))
                            .collect()
                    })
                    .collect()
            }
            ArrayData::Raw(_) => Ok(self.to_f64()?.iter().map(|v| v.to_string()).collect()),
        }
    }
}

fn bad(message: String) -> Error {
    Error::Weights(format!("pickle: {message}"))
}

/// What a persistent id (BINPERSID) is kept as: `Py::Object` of class (`""`, this) whose one
/// argument is the id (no Python module has an empty name).
pub const PERSISTENT_ID: &str = "persistent_id";

/// The value a pickle holds.
pub fn read(bytes: &[u8]) -> Result<Py> {
    read_prefix(bytes).map(|(value, _)| value)
}

/// The value of the pickle `bytes` start with, and how many bytes it takes (data may follow it,
/// as in torch's legacy files: several pickles, then raw storages).
pub fn read_prefix(bytes: &[u8]) -> Result<(Py, usize)> {
    let mut reader =
        Reader { bytes, at: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new(), copy_budget: bytes.len().saturating_mul(COPY_BUDGET_PER_BYTE).max(1 << 16) };
    let value = reader.run()?;
    Ok((value, reader.at))
}

/// A stack item and the memo key it was stored under (BUILD updates the memo's copy too).
type Item = (Py, Option<u32>);

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Item>,
    marks: Vec<usize>,
    memo: HashMap<u32, Py>,
    copy_budget: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| bad(format!("the file ends inside a value at byte {} (it needs {n} more bytes)", self.at)))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap_or_default()))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }

    fn u64(&mut self) -> Result<usize> {
        let v = u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default());
        usize::try_from(v).map_err(|_| bad(format!("a length of {v} bytes")))
    }

    fn string(&mut self, n: usize) -> Result<String> {
        let at = self.at;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| bad(format!("the text at byte {at} is not UTF-8")))
    }

    fn line(&mut self) -> Result<String> {
        let rest = &self.bytes[self.at..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or_else(|| bad("a GLOBAL name without its newline".into()))?;
        let s = self.string(n)?;
        self.at += 1;
        Ok(s)
    }

    fn push(&mut self, v: Py) -> Result<()> {
        if v.depth(MAX_DEPTH + 1) > MAX_DEPTH {
            return Err(bad(format!("values nest deeper than {MAX_DEPTH} levels")));
        }
        self.stack.push((v, None));
        Ok(())
    }

    fn pop(&mut self) -> Result<Py> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(bad(format!("a value was expected after the MARK at byte {}", self.at)));
        }
        self.stack.pop().map(|(v, _)| v).ok_or_else(|| bad(format!("the stack is empty at byte {}", self.at)))
    }

    fn top(&mut self) -> Result<&mut Item> {
        self.stack.last_mut().ok_or_else(|| bad("the stack is empty".into()))
    }

    fn since_mark(&mut self) -> Result<Vec<Py>> {
        let mark = self.marks.pop().ok_or_else(|| bad(format!("no MARK before byte {}", self.at)))?;
        Ok(self.stack.split_off(mark).into_iter().map(|(v, _)| v).collect())
    }

    fn memo_put(&mut self, key: u32) -> Result<()> {
        if self.memo.len() >= self.bytes.len() {
            return Err(bad("more memo entries than bytes".into()));
        }
        let item = self.top()?;
        item.1 = Some(key);
        let value = item.0.clone();
        self.memo.insert(key, value);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<()> {
        let value = self.memo.get(&key).ok_or_else(|| bad(format!("memo entry {key} is read before it is written")))?;
        let cost = value.nodes();
        self.copy_budget = self.copy_budget.checked_sub(cost).ok_or_else(|| bad("memoised values are copied out more than the file's size allows".into()))?;
        let value = value.clone();
        self.stack.push((value, Some(key)));
        Ok(())
    }

    fn run(&mut self) -> Result<Py> {
        loop {
            let at = self.at;
            let op = self.byte()?;
            match op {
                0x80 => {
                    let protocol = self.byte()?;
                    if protocol > 5 {
                        return Err(bad(format!("protocol {protocol}; webtune reads protocols 2 to 5")));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b')' => self.push(Py::Tuple(Vec::new()))?,
                b't' => {
                    let items = self.since_mark()?;
                    self.push(Py::Tuple(items))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = (0..n).map(|_| self.pop()).collect::<Result<Vec<_>>>()?;
                    items.reverse();
                    self.push(Py::Tuple(items))?;
                }
                b']' => self.push(Py::List(Vec::new()))?,
                b'l' => {
                    let items = self.since_mark()?;
                    self.push(Py::List(items))?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.extend_list(vec![v])?;
                }
                b'e' => {
                    let items = self.since_mark()?;
                    self.extend_list(items)?;
                }
                // a set (a module's `_non_persistent_buffers_set`) is kept as a list of its items
                0x8f => self.push(Py::List(Vec::new()))?,
                0x90 => {
                    let items = self.since_mark()?;
                    self.extend_list(items)?;
                }
                0x91 => {
                    let items = self.since_mark()?;
                    self.push(Py::List(items))?;
                }
                // a reference to data outside the pickle (torch's storages): kept by its id
                b'Q' => {
                    let id = self.pop()?;
                    self.push(Py::Object { class: (String::new(), PERSISTENT_ID.into()), args: vec![id], state: Box::new(Py::None) })?;
                }
                b'}' => self.push(Py::Dict(Vec::new()))?,
                b'd' => {
                    let items = self.since_mark()?;
                    self.push(Py::Dict(pairs(items)?))?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.extend_dict(vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.since_mark()?;
                    self.extend_dict(pairs(items)?)?;
                }
                b'N' => self.push(Py::None)?,
                0x88 => self.push(Py::Bool(true))?,
                0x89 => self.push(Py::Bool(false))?,
                b'K' => {
                    let v = self.byte()?;
                    self.push(Py::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Py::Int(i64::from(v)))?;
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Py::Int(i64::from(v)))?;
                }
                0x8a => {
                    let n = usize::from(self.byte()?);
                    if n > 8 {
                        return Err(bad(format!("an integer of {n} bytes at byte {at}")));
                    }
                    let raw = self.take(n)?;
                    let mut word = if raw.last().is_some_and(|&b| b & 0x80 != 0) { [0xff; 8] } else { [0; 8] };
                    word[..n].copy_from_slice(raw);
                    self.push(Py::Int(i64::from_le_bytes(word)))?;
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap_or_default());
                    self.push(Py::Float(v))?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.string(n)?;
                    self.push(Py::Str(s))?;
                }
                0x8c => {
                    let n = usize::from(self.byte()?);
                    let s = self.string(n)?;
                    self.push(Py::Str(s))?;
                }
                0x8d => {
                    let n = self.u64()?;
                    let s = self.string(n)?;
                    self.push(Py::Str(s))?;
                }
                b'C' | b'B' | 0x8e | 0x96 => {
                    let n = match op {
                        b'C' => usize::from(self.byte()?),
                        b'B' => self.u32()? as usize,
                        _ => self.u64()?,
                    };
                    let raw = self.take(n)?.to_vec();
                    self.push(Py::Bytes(Rc::new(raw)))?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Py::Global(module, name))?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Py::Str(module), Py::Str(name)) = (module, name) else { return Err(bad(format!("STACK_GLOBAL at byte {at} names no class"))) };
                    self.push(Py::Global(module, name))?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = reduce(callable, args)?;
                    self.push(v)?;
                }
                0x81 => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let v = new_object(class, args)?;
                    self.push(v)?;
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let v = new_object(class, args)?;
                    self.push(v)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    self.build(state)?;
                }
                b'q' => {
                    let key = u32::from(self.byte()?);
                    self.memo_put(key)?;
                }
                b'r' => {
                    let key = self.u32()?;
                    self.memo_put(key)?;
                }
                0x94 => {
                    let key = u32::try_from(self.memo.len()).map_err(|_| bad("too many memo entries".into()))?;
                    self.memo_put(key)?;
                }
                b'h' => {
                    let key = u32::from(self.byte()?);
                    self.memo_get(key)?;
                }
                b'j' => {
                    let key = self.u32()?;
                    self.memo_get(key)?;
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.since_mark()?;
                }
                b'2' => {
                    let v = self.top()?.0.clone();
                    let cost = v.nodes();
                    self.copy_budget = self.copy_budget.checked_sub(cost).ok_or_else(|| bad("values are copied more than the file's size allows".into()))?;
                    self.push(v)?;
                }
                other => return Err(bad(format!("opcode 0x{other:02x} at byte {at} is not one webtune reads (setfit's heads pickle without it)"))),
            }
        }
    }

    // Only the added items' depth is checked (the container's own was, when it was pushed), and
    // a dict keeps every key in order (`Py::get` takes the last): both stay linear in the input.
    fn extend_list(&mut self, items: Vec<Py>) -> Result<()> {
        check_added_depth(items.iter())?;
        let (Py::List(list), _) = self.top()? else { return Err(bad("APPEND to something that is not a list".into())) };
        list.extend(items);
        Ok(())
    }

    fn extend_dict(&mut self, items: Vec<(Py, Py)>) -> Result<()> {
        check_added_depth(items.iter().flat_map(|(k, v)| [k, v]))?;
        let (Py::Dict(dict), _) = self.top()? else { return Err(bad("SETITEM on something that is not a dict".into())) };
        dict.extend(items);
        Ok(())
    }

    fn check_top_depth(&mut self) -> Result<()> {
        if self.top()?.0.depth(MAX_DEPTH + 1) > MAX_DEPTH {
            return Err(bad(format!("values nest deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// BUILD: gives the top object its state; a numpy array or dtype becomes its value, and
    /// joblib's array wrapper reads the raw items that follow it in the file.
    fn build(&mut self, state: Py) -> Result<()> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(bad(format!("BUILD reaches past the MARK before byte {}", self.at)));
        }
        let (object, key) = self.stack.pop().ok_or_else(|| bad("BUILD with nothing to build".into()))?;
        let built = match object {
            Py::Object { class, .. } if class.1 == "_reconstruct" && class.0.starts_with("numpy") => numpy_array(&state)?,
            Py::Dtype { name, .. } => {
                let big_endian = matches!(&state, Py::Tuple(s) if matches!(s.get(1), Some(Py::Str(o)) if o == ">"));
                Py::Dtype { name, big_endian }
            }
            Py::Object { class, .. } if class.0.starts_with("joblib") && class.1 == "NumpyArrayWrapper" => self.joblib_array(&state)?,
            Py::Object { class, args, .. } => Py::Object { class, args, state: Box::new(state) },
            other => return Err(bad(format!("BUILD on a value that is not an object ({other:?})"))),
        };
        if let Some(key) = key {
            self.memo.insert(key, built.clone());
        }
        self.stack.push((built, key));
        self.check_top_depth()
    }

    /// The items joblib writes right after a `NumpyArrayWrapper` (aligned by a padding byte and
    /// its padding when the wrapper says so).
    fn joblib_array(&mut self, state: &Py) -> Result<Py> {
        let shape = shape_of(state.get("shape"))?;
        let Some(Py::Dtype { name, big_endian }) = state.get("dtype") else { return Err(bad("joblib's array wrapper has no dtype".into())) };
        let fortran = matches!(state.get("order"), Some(Py::Str(o)) if o == "F");
        if matches!(state.get("numpy_array_alignment_bytes"), Some(Py::Int(_))) {
            let padding = usize::from(self.byte()?);
            self.take(padding)?;
        }
        let size = Array::item_size(name).ok_or_else(|| bad(format!("dtype {name} is not one webtune reads")))?;
        let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad("an array shape overflows".into()))?;
        let n = count.checked_mul(size).ok_or_else(|| bad("an array size overflows".into()))?;
        let raw = self.take(n)?.to_vec();
        let raw = if fortran { fortran_to_c(&raw, &shape, size) } else { raw };
        Ok(Py::Array(Array { shape, dtype: name.clone(), big_endian: *big_endian, data: ArrayData::Raw(Rc::new(raw)) }))
    }
}

/// Items going into a container on the stack: each at most one level less deep than the limit.
fn check_added_depth<'a>(mut items: impl Iterator<Item = &'a Py>) -> Result<()> {
    if items.any(|v| v.depth(MAX_DEPTH) >= MAX_DEPTH) {
        return Err(bad(format!("values nest deeper than {MAX_DEPTH} levels")));
    }
    Ok(())
}

fn pairs(items: Vec<Py>) -> Result<Vec<(Py, Py)>> {
    if !items.len().is_multiple_of(2) {
        return Err(bad("a dict with a key and no value".into()));
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn class_name(v: Py) -> Result<(String, String)> {
    match v {
        Py::Global(m, n) => Ok((m, n)),
        other => Err(bad(format!("an object made from {other:?}, not a class"))),
    }
}

fn new_object(class: Py, args: Py) -> Result<Py> {
    let Py::Tuple(args) = args else { return Err(bad("NEWOBJ's arguments are not a tuple".into())) };
    Ok(Py::Object { class: class_name(class)?, args, state: Box::new(Py::None) })
}

/// REDUCE: a numpy dtype, an array from `_frombuffer`, an object through `copyreg`, or any other
/// call kept as an object of that name.
fn reduce(callable: Py, args: Py) -> Result<Py> {
    let Py::Tuple(args) = args else { return Err(bad("REDUCE's arguments are not a tuple".into())) };
    let (module, name) = class_name(callable)?;
    match (module.as_str(), name.as_str(), args.as_slice()) {
        ("numpy", "dtype", [Py::Str(kind), ..]) => Ok(Py::Dtype { name: kind.clone(), big_endian: false }),
        (m, "_frombuffer", [Py::Bytes(raw), Py::Dtype { name, big_endian }, shape, order]) if m.starts_with("numpy") => {
            let shape = shape_of(Some(shape))?;
            let fortran = matches!(order, Py::Str(o) if o == "F");
            raw_array(shape, name, *big_endian, raw.clone(), fortran)
        }
        // torch before 2.0 kept a module's parameters and submodules in OrderedDicts, filled by SETITEMS
        ("collections", "OrderedDict", []) => Ok(Py::Dict(Vec::new())),
        ("copyreg", "_reconstructor", [class, ..]) => Ok(Py::Object { class: class_name(class.clone())?, args: Vec::new(), state: Box::new(Py::None) }),
        _ => Ok(Py::Object { class: (module, name), args, state: Box::new(Py::None) }),
    }
}

fn shape_of(v: Option<&Py>) -> Result<Vec<usize>> {
    let Some(Py::Tuple(dims)) = v else { return Err(bad("an array without a shape tuple".into())) };
    dims.iter().map(|d| match d {
        Py::Int(n) => usize::try_from(*n).map_err(|_| bad(format!("an array dimension of {n}"))),
        _ => Err(bad("an array dimension that is not an integer".into())),
    })
    .collect()
}

fn raw_array(shape: Vec<usize>, dtype: &str, big_endian: bool, raw: Rc<Vec<u8>>, fortran: bool) -> Result<Py> {
    let size = Array::item_size(dtype).ok_or_else(|| bad(format!("dtype {dtype} is not one webtune reads")))?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad("an array shape overflows".into()))?;
    if count.checked_mul(size) != Some(raw.len()) {
        return Err(bad(format!("an array of shape {shape:?} and dtype {dtype} holds {} bytes", raw.len())));
    }
    let raw = if fortran { Rc::new(fortran_to_c(&raw, &shape, size)) } else { raw };
    Ok(Py::Array(Array { shape, dtype: dtype.to_string(), big_endian, data: ArrayData::Raw(raw) }))
}

/// Items stored in Fortran order (first index fastest), reordered to C order; `raw` holds exactly
/// the shape's items of `size` bytes.
fn fortran_to_c(raw: &[u8], shape: &[usize], size: usize) -> Vec<u8> {
    if shape.len() < 2 {
        return raw.to_vec();
    }
    let mut strides = Vec::with_capacity(shape.len());
    let mut stride = 1;
    for &d in shape {
        strides.push(stride);
        stride *= d;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut index = vec![0usize; shape.len()];
    for _ in 0..raw.len() / size.max(1) {
        let at = index.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>() * size;
        out.extend_from_slice(&raw[at..at + size]);
        for k in (0..shape.len()).rev() {
            index[k] += 1;
            if index[k] < shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

/// numpy's own array pickle: `_reconstruct(ndarray, (0,), b'b')`, then BUILD with
/// `(version, shape, dtype, is_fortran, raw bytes or a list of objects)`.
fn numpy_array(state: &Py) -> Result<Py> {
    let Py::Tuple(s) = state else { return Err(bad("a numpy array's state is not a tuple".into())) };
    let [_, shape, Py::Dtype { name, big_endian }, fortran, data] = s.as_slice() else { return Err(bad("a numpy array's state is not (version, shape, dtype, fortran, data)".into())) };
    let shape = shape_of(Some(shape))?;
    let fortran = matches!(fortran, Py::Bool(true));
    match data {
        Py::Bytes(raw) => raw_array(shape, name, *big_endian, raw.clone(), fortran),
        Py::Str(latin1) => raw_array(shape, name, *big_endian, Rc::new(latin1.chars().map(|c| c as u32 as u8).collect()), fortran),
        Py::List(items) if fortran && shape.len() > 1 => Err(bad(format!("a Fortran-ordered object array of shape {shape:?}"))),
        Py::List(items) => {
            let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if count != Some(items.len()) {
                return Err(bad(format!("an object array of shape {shape:?} holds {} items", items.len())));
            }
            Ok(Py::Array(Array { shape, dtype: name.clone(), big_endian: *big_endian, data: ArrayData::Objects(items.clone()) }))
        }
        _ => Err(bad("a numpy array's data is neither bytes nor a list".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_dicts_sets_and_persistent_ids_read_as_torch_pickles_them() {
        // OrderedDict() filled by SETITEM (torch 1.x modules), an empty set given an item, and a
        // persistent id, in a tuple
        let bytes = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aK\x01s\x8f(K\x02\x90X\x02\x00\x00\x00idQ\x87.";
        let Py::Tuple(items) = read(bytes).unwrap() else { panic!("a tuple") };
        assert_eq!(items[0].get("a"), Some(&Py::Int(1)));
        assert_eq!(items[1], Py::List(vec![Py::Int(2)]));
        assert_eq!(items[2], Py::Object { class: (String::new(), PERSISTENT_ID.into()), args: vec![Py::Str("id".into())], state: Box::new(Py::None) });
        // a pickle followed by more bytes: its value and its length
        let (value, used) = read_prefix(b"\x80\x02K\x07.rest").unwrap();
        assert_eq!((value, used), (Py::Int(7), 5));
    }
}
