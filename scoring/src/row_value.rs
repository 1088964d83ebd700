//! One value of one row, as the row evaluator carries it, and the casts
//! between SQL types with Arrow's semantics.
//!
//! Every integer type (and a timestamp, as its raw count of its unit) is an
//! `Int`, every float type a `Float`, every string type a `Str`: the
//! planned [`DataType`] of the expression that produced a value says which
//! it was, so values convert back to DataFusion's scalars exactly.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampSecondType,
};
use datafusion::arrow::error::ArrowError;
use datafusion::common::ScalarValue;

/// A SQL value of one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// Any integer, or a timestamp as a count of its unit.
    Int(i64),
    /// Any float.
    Float(f64),
    /// Any string.
    Str(Arc<str>),
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Self {
        Self::Str(Arc::from(s))
    }

    /// Whether the value is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }
}

/// Whether the row evaluator carries values of `ty`.
pub fn carried(ty: &DataType) -> bool {
    use DataType::*;
    matches!(
        ty,
        Null | Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | Float32
            | Float64
            | Utf8
            | LargeUtf8
            | Utf8View
            | Timestamp(_, None)
    )
}

/// The value of a DataFusion scalar, if the row evaluator carries its type.
pub fn from_scalar(scalar: &ScalarValue) -> Option<Value> {
    use ScalarValue as S;
    let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
    Some(match scalar {
        S::Null => Value::Null,
        S::Boolean(v) => v.map_or(Value::Null, Value::Bool),
        S::Int8(v) => int(v.map(i64::from)),
        S::Int16(v) => int(v.map(i64::from)),
        S::Int32(v) => int(v.map(i64::from)),
        S::Int64(v) => int(*v),
        S::UInt8(v) => int(v.map(i64::from)),
        S::UInt16(v) => int(v.map(i64::from)),
        S::UInt32(v) => int(v.map(i64::from)),
        S::Float32(v) => v.map_or(Value::Null, |v| Value::Float(f64::from(v))),
        S::Float64(v) => v.map_or(Value::Null, Value::Float),
        S::Utf8(v) | S::LargeUtf8(v) | S::Utf8View(v) => {
            v.as_deref().map_or(Value::Null, Value::str)
        }
        S::TimestampSecond(v, None)
        | S::TimestampMillisecond(v, None)
        | S::TimestampMicrosecond(v, None)
        | S::TimestampNanosecond(v, None) => int(*v),
        _ => return None,
    })
}

/// The DataFusion scalar of `value`, typed `ty` (a type [`carried`]).
pub fn to_scalar(value: &Value, ty: &DataType) -> ScalarValue {
    use ScalarValue as S;
    let null = || S::try_from(ty).unwrap_or(S::Null);
    match (value, ty) {
        (Value::Null, _) => null(),
        (Value::Bool(b), DataType::Boolean) => S::Boolean(Some(*b)),
        (Value::Int(v), DataType::Int8) => S::Int8(Some(*v as i8)),
        (Value::Int(v), DataType::Int16) => S::Int16(Some(*v as i16)),
        (Value::Int(v), DataType::Int32) => S::Int32(Some(*v as i32)),
        (Value::Int(v), DataType::Int64) => S::Int64(Some(*v)),
        (Value::Int(v), DataType::UInt8) => S::UInt8(Some(*v as u8)),
        (Value::Int(v), DataType::UInt16) => S::UInt16(Some(*v as u16)),
        (Value::Int(v), DataType::UInt32) => S::UInt32(Some(*v as u32)),
        (Value::Int(v), DataType::Timestamp(TimeUnit::Second, None)) => {
            S::TimestampSecond(Some(*v), None)
        }
        (Value::Int(v), DataType::Timestamp(TimeUnit::Millisecond, None)) => {
            S::TimestampMillisecond(Some(*v), None)
        }
        (Value::Int(v), DataType::Timestamp(TimeUnit::Microsecond, None)) => {
            S::TimestampMicrosecond(Some(*v), None)
        }
        (Value::Int(v), DataType::Timestamp(TimeUnit::Nanosecond, None)) => {
            S::TimestampNanosecond(Some(*v), None)
        }
        (Value::Float(v), DataType::Float32) => S::Float32(Some(*v as f32)),
        (Value::Float(v), DataType::Float64) => S::Float64(Some(*v)),
        (Value::Str(s), DataType::Utf8) => S::Utf8(Some(s.to_string())),
        (Value::Str(s), DataType::LargeUtf8) => S::LargeUtf8(Some(s.to_string())),
        (Value::Str(s), DataType::Utf8View) => S::Utf8View(Some(s.to_string())),
        _ => null(),
    }
}

/// The value at `row` of `array` (of a type [`carried`]).
pub fn value_at(array: &ArrayRef, row: usize) -> Result<Value, ArrowError> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    // The common types directly; the rest through DataFusion's scalars.
    Ok(match array.data_type() {
        DataType::Float64 => Value::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Int64 => Value::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::Int32 => Value::Int(i64::from(array.as_primitive::<Int32Type>().value(row))),
        DataType::Utf8 => Value::str(array.as_string::<i32>().value(row)),
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Timestamp(TimeUnit::Second, None) => {
            Value::Int(array.as_primitive::<TimestampSecondType>().value(row))
        }
        other => {
            let scalar = ScalarValue::try_from_array(array, row)
                .map_err(|e| ArrowError::ComputeError(e.to_string()))?;
            from_scalar(&scalar).ok_or_else(|| {
                ArrowError::NotYetImplemented(format!("row values of type {other}"))
            })?
        }
    })
}

/// Why a cast failed (only plain `CAST`, which Arrow runs unsafe, fails;
/// `TRY_CAST` gives NULL instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot cast {value} to {to}")]
pub struct CastError {
    /// The value, rendered.
    pub value: String,
    /// The target type.
    pub to: String,
}

/// How a cast is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastKind {
    /// The value is unchanged (same representation).
    Same,
    /// To an integer type of this many bits (signed unless `unsigned`).
    ToInt {
        /// Width.
        bits: u32,
        /// Unsigned.
        unsigned: bool,
    },
    /// To a float of this many bits.
    ToFloat {
        /// Width.
        bits: u32,
    },
    /// To a string; `f32` when the source is a `Float32`.
    ToStr {
        /// The source is a `Float32`.
        f32: bool,
    },
    /// To a boolean.
    ToBool,
}

/// The native cast from `from` to `to`, or `None` when the row evaluator
/// leaves it to DataFusion.
pub fn cast_kind(from: &DataType, to: &DataType) -> Option<CastKind> {
    use DataType::*;
    if from == to || from == &Null {
        return Some(CastKind::Same);
    }
    let from_str = matches!(from, Utf8 | LargeUtf8 | Utf8View);
    let from_timestamp = matches!(from, Timestamp(_, None));
    let from_number = from.is_integer() || matches!(from, Float32 | Float64 | Boolean);
    Some(match to {
        Utf8 | LargeUtf8 | Utf8View if from_str => CastKind::Same,
        Utf8 | LargeUtf8 | Utf8View if from_number => CastKind::ToStr {
            f32: from == &Float32,
        },
        // A timestamp is its count of units, and back.
        Int64 if from_timestamp => CastKind::Same,
        Timestamp(_, None) if from == &Int64 => CastKind::Same,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 if from_number => CastKind::ToInt {
            bits: to.primitive_width()? as u32 * 8,
            unsigned: to.is_unsigned_integer(),
        },
        Float32 if from_number => CastKind::ToFloat { bits: 32 },
        Float64 if from_number => CastKind::ToFloat { bits: 64 },
        Boolean if from_number => CastKind::ToBool,
        _ => return None,
    })
}

/// Casts `value` as [`cast_kind`] decided; `safe` gives NULL where a
/// plain cast fails.
pub fn cast_value(
    value: &Value,
    kind: CastKind,
    to: &DataType,
    safe: bool,
) -> Result<Value, CastError> {
    let fail = |value: &Value| {
        if safe {
            Ok(Value::Null)
        } else {
            Err(CastError {
                value: format!("{value:?}"),
                to: to.to_string(),
            })
        }
    };
    Ok(match (kind, value) {
        (_, Value::Null) => Value::Null,
        (CastKind::Same, v) => v.clone(),
        (CastKind::ToInt { bits, unsigned }, v) => {
            let (min, max) = int_range(bits, unsigned);
            match v {
                Value::Int(i) if (min..=max).contains(i) => Value::Int(*i),
                Value::Float(f) => {
                    let t = f.trunc();
                    // The bounds are exact powers of two, so this decides
                    // representability as num-traits' cast does.
                    if f.is_finite() && t >= min as f64 && t < (max as f64) + 1.0 {
                        Value::Int(t as i64)
                    } else {
                        return fail(v);
                    }
                }
                Value::Bool(b) => Value::Int(i64::from(*b)),
                _ => return fail(v),
            }
        }
        (CastKind::ToFloat { bits }, v) => {
            let f = match v {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                Value::Bool(b) => f64::from(u8::from(*b)),
                _ => return fail(v),
            };
            if bits == 32 {
                Value::Float(f64::from(match v {
                    Value::Int(i) => *i as f32,
                    _ => f as f32,
                }))
            } else {
                Value::Float(f)
            }
        }
        (CastKind::ToStr { f32 }, v) => Value::Str(Arc::from(render(v, f32).as_str())),
        (CastKind::ToBool, v) => match v {
            Value::Int(i) => Value::Bool(*i != 0),
            Value::Float(f) => Value::Bool(*f != 0.0),
            Value::Bool(b) => Value::Bool(*b),
            _ => return fail(v),
        },
    })
}

/// The text Arrow's cast to a string gives for a value (floats as ryu's
/// shortest round-trip form, e.g. `3600.0`). `f32` marks a `Float32`.
pub fn render(value: &Value, f32: bool) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f32 => ryu::Buffer::new().format(*f as f32).to_owned(),
        Value::Float(f) => ryu::Buffer::new().format(*f).to_owned(),
        Value::Str(s) => s.to_string(),
    }
}

fn int_range(bits: u32, unsigned: bool) -> (i64, i64) {
    match (bits, unsigned) {
        (64, _) => (i64::MIN, i64::MAX),
        (b, false) => (-(1i64 << (b - 1)), (1i64 << (b - 1)) - 1),
        (b, true) => (0, (1i64 << b) - 1),
    }
}

/// Wraps an integer result to the width of `ty`, as Arrow's wrapping
/// arithmetic on that type would.
pub fn wrap_int(v: i64, ty: &DataType) -> i64 {
    match ty {
        DataType::Int8 => i64::from(v as i8),
        DataType::Int16 => i64::from(v as i16),
        DataType::Int32 => i64::from(v as i32),
        DataType::UInt8 => i64::from(v as u8),
        DataType::UInt16 => i64::from(v as u16),
        DataType::UInt32 => i64::from(v as u32),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array};
    use datafusion::arrow::compute::{CastOptions, cast_with_options};
    use std::sync::Arc as StdArc;

    /// Our cast against Arrow's on a one-element array.
    fn check(value: Value, from: DataType, to: DataType, safe: bool) {
        let kind = cast_kind(&from, &to).expect("native cast");
        let ours = cast_value(&value, kind, &to, safe);
        let array: ArrayRef = to_scalar(&value, &from).to_array().unwrap();
        let options = CastOptions {
            safe,
            ..Default::default()
        };
        let theirs = cast_with_options(&array, &to, &options);
        match (ours, theirs) {
            (Ok(v), Ok(a)) => {
                let expected = from_scalar(&ScalarValue::try_from_array(&a, 0).unwrap()).unwrap();
                let same = match (&v, &expected) {
                    (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
                    _ => v == expected,
                };
                assert!(same, "{value:?} {from} -> {to}: {v:?} vs {expected:?}");
            }
            (Err(_), Err(_)) => {}
            (ours, theirs) => panic!("{value:?} {from} -> {to}: {ours:?} vs {theirs:?}"),
        }
    }

    #[test]
    fn casts_agree_with_arrow() {
        use DataType::*;
        let floats = [
            0.0,
            -0.0,
            1.5,
            -1.5,
            3600.0,
            1e20,
            1.0e-7,
            123456789.125,
            f64::NAN,
            f64::INFINITY,
            9.3e18,
            -9.3e18,
            2147483647.9,
            2147483648.0,
        ];
        for f in floats {
            for to in [Int64, Int32, UInt8, Float32, Utf8, Boolean] {
                for safe in [true, false] {
                    check(Value::Float(f), Float64, to.clone(), safe);
                }
            }
        }
        for i in [0, 1, -1, 255, 256, i64::MAX, i64::MIN, 1 << 40] {
            for to in [Int32, UInt16, Float64, Float32, Utf8, Boolean, Int64] {
                for safe in [true, false] {
                    check(Value::Int(i), Int64, to.clone(), safe);
                }
            }
        }
        for b in [true, false] {
            for to in [Int64, Float64, Utf8] {
                check(Value::Bool(b), Boolean, to, false);
            }
        }
        check(
            Value::Int(1_700_000_000),
            Timestamp(TimeUnit::Second, None),
            Int64,
            false,
        );
        check(Value::Null, Float64, Utf8, false);
    }

    #[test]
    fn scalars_round_trip() {
        let float: ArrayRef = StdArc::new(Float64Array::from(vec![Some(2.5), None]));
        let int: ArrayRef = StdArc::new(Int64Array::from(vec![7]));
        for (array, row, want) in [
            (&float, 0, Value::Float(2.5)),
            (&float, 1, Value::Null),
            (&int, 0, Value::Int(7)),
        ] {
            let scalar = ScalarValue::try_from_array(array, row).unwrap();
            let v = from_scalar(&scalar).unwrap();
            assert_eq!(v, want);
            assert_eq!(to_scalar(&v, array.data_type()), scalar);
        }
    }
}
