//! Feature expressions evaluated one job at a time.
//!
//! The optimised logical plan that [`crate::row_projection`] turns into
//! DataFusion physical expressions is also compiled here into a tree of
//! scalar operations over [`Value`]s, so that a single job is scored without
//! building Arrow arrays. The operations the feature SQL is made of run
//! natively with Arrow's semantics (three-valued logic, floats in total
//! order, wrapping `+ - *`, failing `/ %` by zero, unsafe `CAST` and safe
//! `TRY_CAST`); any other scalar function or cast is handed to DataFusion's
//! own implementation with scalar arguments. Both paths therefore compute
//! the same values, which the serving tests check row by row.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::expr::{Case, Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, Operator, ScalarFunctionArgs, ScalarUDF,
};

use crate::row_value::{
    CastKind, Value, carried, cast_kind, cast_value, from_scalar, to_scalar, wrap_int,
};

/// Why an expression has no row form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

/// Why evaluating a row failed (as the vectorised path fails on it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RowError(pub String);

#[derive(Debug, Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Debug, Clone, Copy)]
enum Compare {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    IsDistinctFrom,
    IsNotDistinctFrom,
}

#[derive(Debug, Clone, Copy)]
enum Truth {
    True,
    False,
    Unknown,
    NotTrue,
    NotFalse,
    NotUnknown,
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Hour,
    DayOfWeek,
}

/// A compiled expression.
#[derive(Debug)]
pub struct RowExpr(Node);

#[derive(Debug)]
enum Node {
    /// A column of the stage's input.
    Slot(usize),
    /// A constant.
    Const(Value),
    /// `left op right` on numbers of type `ty`.
    Arith {
        /// The operator.
        op: Arith,
        /// The (common) type of both sides and the result.
        ty: DataType,
        /// Left side.
        left: Box<Node>,
        /// Right side.
        right: Box<Node>,
    },
    /// A comparison of two values of the same type.
    Compare(Compare, Box<Node>, Box<Node>),
    /// Kleene AND.
    And(Box<Node>, Box<Node>),
    /// Kleene OR.
    Or(Box<Node>, Box<Node>),
    /// NOT.
    Not(Box<Node>),
    /// IS NULL (`true`) or IS NOT NULL (`false`).
    IsNull(Box<Node>, bool),
    /// IS [NOT] TRUE/FALSE/UNKNOWN.
    Truth(Truth, Box<Node>),
    /// Unary minus on a number of type `ty`.
    Negative(Box<Node>, DataType),
    /// CASE.
    Case {
        /// `CASE base WHEN …` form.
        base: Option<Box<Node>>,
        /// WHEN/THEN pairs.
        arms: Vec<(Node, Node)>,
        /// ELSE.
        otherwise: Option<Box<Node>>,
    },
    /// A cast done natively.
    Cast {
        /// The input.
        expr: Box<Node>,
        /// How.
        kind: CastKind,
        /// To what.
        to: DataType,
        /// TRY_CAST.
        safe: bool,
    },
    /// A cast DataFusion's scalar cast carries out.
    ScalarCast {
        /// The input.
        expr: Box<Node>,
        /// Its type.
        from: DataType,
        /// To what.
        to: DataType,
        /// TRY_CAST.
        safe: bool,
    },
    /// `ln(x)` on a float.
    Ln(Box<Node>),
    /// `concat(…)` of strings, NULLs skipped.
    Concat(Vec<Node>),
    /// `date_part` of a timestamp without zone.
    DatePart(Part, TimeUnit, Box<Node>),
    /// Any other scalar function, run by DataFusion on scalars.
    Function(Box<Function>),
}

/// A scalar function handed to DataFusion.
#[derive(Debug)]
struct Function {
    udf: Arc<ScalarUDF>,
    args: Vec<Node>,
    arg_fields: Vec<FieldRef>,
    return_field: FieldRef,
    config: Arc<ConfigOptions>,
}

/// Compiles `expr`, planned over `schema`.
pub fn compile(
    expr: &Expr,
    schema: &DFSchema,
    config: &Arc<ConfigOptions>,
) -> Result<RowExpr, Unsupported> {
    Compiler { schema, config }.compile(expr).map(RowExpr)
}

struct Compiler<'a> {
    schema: &'a DFSchema,
    config: &'a Arc<ConfigOptions>,
}

impl Compiler<'_> {
    fn ty(&self, expr: &Expr) -> Result<DataType, Unsupported> {
        let ty = expr
            .get_type(self.schema)
            .map_err(|e| Unsupported(format!("typing `{expr}`: {e}")))?;
        if carried(&ty) {
            Ok(ty)
        } else {
            Err(Unsupported(format!("`{expr}` has type {ty}")))
        }
    }

    fn boxed(&self, expr: &Expr) -> Result<Box<Node>, Unsupported> {
        self.compile(expr).map(Box::new)
    }

    fn compile(&self, expr: &Expr) -> Result<Node, Unsupported> {
        let unsupported = || Unsupported(format!("no row form for `{expr}`"));
        Ok(match expr {
            Expr::Alias(alias) => self.compile(&alias.expr)?,
            Expr::Column(column) => {
                self.ty(expr)?;
                let index = self
                    .schema
                    .index_of_column(column)
                    .map_err(|e| Unsupported(e.to_string()))?;
                Node::Slot(index)
            }
            Expr::Literal(scalar, _) => Node::Const(from_scalar(scalar).ok_or_else(unsupported)?),
            Expr::BinaryExpr(binary) => self.binary(binary, expr)?,
            Expr::Not(e) => Node::Not(self.boxed(e)?),
            Expr::IsNull(e) => Node::IsNull(self.boxed(e)?, true),
            Expr::IsNotNull(e) => Node::IsNull(self.boxed(e)?, false),
            Expr::IsTrue(e) => Node::Truth(Truth::True, self.boxed(e)?),
            Expr::IsFalse(e) => Node::Truth(Truth::False, self.boxed(e)?),
            Expr::IsUnknown(e) => Node::Truth(Truth::Unknown, self.boxed(e)?),
            Expr::IsNotTrue(e) => Node::Truth(Truth::NotTrue, self.boxed(e)?),
            Expr::IsNotFalse(e) => Node::Truth(Truth::NotFalse, self.boxed(e)?),
            Expr::IsNotUnknown(e) => Node::Truth(Truth::NotUnknown, self.boxed(e)?),
            Expr::Negative(e) => {
                let ty = self.ty(e)?;
                if !(ty.is_signed_integer() || ty.is_floating()) {
                    return Err(unsupported());
                }
                Node::Negative(self.boxed(e)?, ty)
            }
            Expr::Case(Case {
                expr: base,
                when_then_expr,
                else_expr,
            }) => Node::Case {
                base: base.as_deref().map(|b| self.boxed(b)).transpose()?,
                arms: when_then_expr
                    .iter()
                    .map(|(w, t)| Ok((self.compile(w)?, self.compile(t)?)))
                    .collect::<Result<_, Unsupported>>()?,
                otherwise: else_expr.as_deref().map(|e| self.boxed(e)).transpose()?,
            },
            Expr::Cast(Cast { expr: inner, field }) => {
                self.cast(inner, field.data_type(), false)?
            }
            Expr::TryCast(TryCast { expr: inner, field }) => {
                self.cast(inner, field.data_type(), true)?
            }
            Expr::ScalarFunction(function) => self.function(function, expr)?,
            _ => return Err(unsupported()),
        })
    }

    fn binary(&self, binary: &BinaryExpr, whole: &Expr) -> Result<Node, Unsupported> {
        let BinaryExpr { left, op, right } = binary;
        let (lt, rt) = (self.ty(left)?, self.ty(right)?);
        let unsupported = || Unsupported(format!("no row form for `{whole}`"));
        let arith = match op {
            Operator::Plus => Some(Arith::Add),
            Operator::Minus => Some(Arith::Sub),
            Operator::Multiply => Some(Arith::Mul),
            Operator::Divide => Some(Arith::Div),
            Operator::Modulo => Some(Arith::Rem),
            _ => None,
        };
        let compare = match op {
            Operator::Eq => Some(Compare::Eq),
            Operator::NotEq => Some(Compare::NotEq),
            Operator::Lt => Some(Compare::Lt),
            Operator::LtEq => Some(Compare::LtEq),
            Operator::Gt => Some(Compare::Gt),
            Operator::GtEq => Some(Compare::GtEq),
            Operator::IsDistinctFrom => Some(Compare::IsDistinctFrom),
            Operator::IsNotDistinctFrom => Some(Compare::IsNotDistinctFrom),
            _ => None,
        };
        let (l, r) = (self.boxed(left)?, self.boxed(right)?);
        if let Some(op) = arith {
            // The analyser has coerced both sides to one numeric type.
            if lt != rt || !(lt.is_integer() || lt.is_floating()) {
                return Err(unsupported());
            }
            return Ok(Node::Arith {
                op,
                ty: lt,
                left: l,
                right: r,
            });
        }
        if let Some(op) = compare {
            if lt != rt && lt != DataType::Null && rt != DataType::Null {
                return Err(unsupported());
            }
            return Ok(Node::Compare(op, l, r));
        }
        match op {
            Operator::And => Ok(Node::And(l, r)),
            Operator::Or => Ok(Node::Or(l, r)),
            _ => Err(unsupported()),
        }
    }

    fn cast(&self, inner: &Expr, to: &DataType, safe: bool) -> Result<Node, Unsupported> {
        let from = self.ty(inner)?;
        if !carried(to) {
            return Err(Unsupported(format!("cast of `{inner}` to {to}")));
        }
        let expr = self.boxed(inner)?;
        Ok(match cast_kind(&from, to) {
            Some(kind) => Node::Cast {
                expr,
                kind,
                to: to.clone(),
                safe,
            },
            None => Node::ScalarCast {
                expr,
                from,
                to: to.clone(),
                safe,
            },
        })
    }

    fn function(&self, function: &ScalarFunction, whole: &Expr) -> Result<Node, Unsupported> {
        let ScalarFunction { func, args } = function;
        let types = args
            .iter()
            .map(|a| self.ty(a))
            .collect::<Result<Vec<_>, _>>()?;
        let float_args = types.iter().all(|t| t == &DataType::Float64);
        let string_args = types
            .iter()
            .all(|t| matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8));
        match func.name() {
            "ln" if args.len() == 1 && float_args => return Ok(Node::Ln(self.boxed(&args[0])?)),
            "concat" if string_args => {
                return Ok(Node::Concat(
                    args.iter()
                        .map(|a| self.compile(a))
                        .collect::<Result<_, _>>()?,
                ));
            }
            "date_part" | "datepart" if args.len() == 2 => {
                let part = match &args[0] {
                    Expr::Literal(ScalarValue::Utf8(Some(p)), _) => {
                        match p.to_ascii_lowercase().as_str() {
                            "hour" | "hours" | "h" => Some(Part::Hour),
                            "dow" => Some(Part::DayOfWeek),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if let (Some(part), DataType::Timestamp(unit, None)) = (part, &types[1]) {
                    return Ok(Node::DatePart(part, *unit, self.boxed(&args[1])?));
                }
            }
            _ => {}
        }
        // Anything else: DataFusion's own implementation, on scalars.
        let (_, return_field) = whole
            .to_field(self.schema)
            .map_err(|e| Unsupported(format!("typing `{whole}`: {e}")))?;
        if !carried(return_field.data_type()) {
            return Err(Unsupported(format!(
                "`{whole}` returns {}",
                return_field.data_type()
            )));
        }
        let arg_fields = args
            .iter()
            .map(|a| a.to_field(self.schema).map(|(_, f)| f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Unsupported(format!("typing `{whole}`: {e}")))?;
        Ok(Node::Function(Box::new(Function {
            udf: Arc::clone(func),
            args: args
                .iter()
                .map(|a| self.compile(a))
                .collect::<Result<_, _>>()?,
            arg_fields,
            return_field,
            config: Arc::clone(self.config),
        })))
    }
}

fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

/// Arrow's order: floats by total order, strings by bytes.
fn order(l: &Value, r: &Value) -> Option<Ordering> {
    Some(match (l, r) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
        (Value::Str(a), Value::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        _ => return None,
    })
}

impl RowExpr {
    /// The expression's value on the row `slots` (the stage's input columns).
    pub fn eval(&self, slots: &[Value]) -> Result<Value, RowError> {
        self.0.eval(slots)
    }
}

impl Node {
    fn eval(&self, slots: &[Value]) -> Result<Value, RowError> {
        Ok(match self {
            Self::Slot(i) => slots[*i].clone(),
            Self::Const(v) => v.clone(),
            Self::Arith {
                op,
                ty,
                left,
                right,
            } => arith(*op, ty, left.eval(slots)?, right.eval(slots)?)?,
            Self::Compare(op, l, r) => compare(*op, &l.eval(slots)?, &r.eval(slots)?),
            Self::And(l, r) => match truthy(&l.eval(slots)?) {
                Some(false) => Value::Bool(false),
                left => match (left, truthy(&r.eval(slots)?)) {
                    (_, Some(false)) => Value::Bool(false),
                    (Some(true), Some(true)) => Value::Bool(true),
                    _ => Value::Null,
                },
            },
            Self::Or(l, r) => match truthy(&l.eval(slots)?) {
                Some(true) => Value::Bool(true),
                left => match (left, truthy(&r.eval(slots)?)) {
                    (_, Some(true)) => Value::Bool(true),
                    (Some(false), Some(false)) => Value::Bool(false),
                    _ => Value::Null,
                },
            },
            Self::Not(e) => truthy(&e.eval(slots)?).map_or(Value::Null, |b| Value::Bool(!b)),
            Self::IsNull(e, want_null) => Value::Bool(e.eval(slots)?.is_null() == *want_null),
            Self::Truth(test, e) => {
                let v = truthy(&e.eval(slots)?);
                Value::Bool(match test {
                    Truth::True => v == Some(true),
                    Truth::False => v == Some(false),
                    Truth::Unknown => v.is_none(),
                    Truth::NotTrue => v != Some(true),
                    Truth::NotFalse => v != Some(false),
                    Truth::NotUnknown => v.is_some(),
                })
            }
            Self::Negative(e, ty) => match e.eval(slots)? {
                Value::Int(i) => Value::Int(wrap_int(i.wrapping_neg(), ty)),
                Value::Float(f) => Value::Float(-f),
                other => other,
            },
            Self::Case {
                base,
                arms,
                otherwise,
            } => {
                let base = base.as_ref().map(|b| b.eval(slots)).transpose()?;
                for (when, then) in arms {
                    let w = when.eval(slots)?;
                    let hit = match &base {
                        // NULL matches nothing, not even NULL.
                        Some(b) => !b.is_null() && order(b, &w) == Some(Ordering::Equal),
                        None => truthy(&w) == Some(true),
                    };
                    if hit {
                        return then.eval(slots);
                    }
                }
                match otherwise {
                    Some(e) => e.eval(slots)?,
                    None => Value::Null,
                }
            }
            Self::Cast {
                expr,
                kind,
                to,
                safe,
            } => cast_value(&expr.eval(slots)?, *kind, to, *safe)
                .map_err(|e| RowError(e.to_string()))?,
            Self::ScalarCast {
                expr,
                from,
                to,
                safe,
            } => {
                let scalar = to_scalar(&expr.eval(slots)?, from);
                match scalar.cast_to(to) {
                    Ok(s) => from_scalar(&s).unwrap_or(Value::Null),
                    Err(_) if *safe => Value::Null,
                    Err(e) => return Err(RowError(e.to_string())),
                }
            }
            Self::Ln(e) => match e.eval(slots)? {
                Value::Float(f) => Value::Float(f.ln()),
                other => other,
            },
            Self::Concat(parts) => {
                let mut out = String::new();
                for part in parts {
                    if let Value::Str(s) = part.eval(slots)? {
                        out.push_str(&s);
                    }
                }
                Value::Str(Arc::from(out))
            }
            Self::DatePart(part, unit, e) => match e.eval(slots)? {
                Value::Int(t) => Value::Int(date_part(*part, *unit, t)),
                other => other,
            },
            Self::Function(f) => f.call(slots)?,
        })
    }
}

impl Function {
    fn call(&self, slots: &[Value]) -> Result<Value, RowError> {
        let args = self
            .args
            .iter()
            .zip(&self.arg_fields)
            .map(|(a, field)| {
                a.eval(slots)
                    .map(|v| ColumnarValue::Scalar(to_scalar(&v, field.data_type())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let failed = |e: DataFusionError| RowError(format!("{}: {e}", self.udf.name()));
        let out = self
            .udf
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields: self.arg_fields.clone(),
                number_rows: 1,
                return_field: Arc::clone(&self.return_field),
                config_options: Arc::clone(&self.config),
            })
            .map_err(failed)?;
        let scalar = match out {
            ColumnarValue::Scalar(s) => s,
            ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0).map_err(failed)?,
        };
        from_scalar(&scalar).ok_or_else(|| {
            RowError(format!(
                "{} returned an unexpected {}",
                self.udf.name(),
                scalar.data_type()
            ))
        })
    }
}

fn arith(op: Arith, ty: &DataType, l: Value, r: Value) -> Result<Value, RowError> {
    let by_zero = || RowError("Divide by zero error".into());
    Ok(match (l, r) {
        (Value::Int(a), Value::Int(b)) => {
            let v = match op {
                Arith::Add => a.wrapping_add(b),
                Arith::Sub => a.wrapping_sub(b),
                Arith::Mul => a.wrapping_mul(b),
                Arith::Div | Arith::Rem if b == 0 => return Err(by_zero()),
                Arith::Div => a
                    .checked_div(b)
                    .filter(|v| wrap_int(*v, ty) == *v)
                    .ok_or_else(|| RowError(format!("Overflow dividing {a} by {b}")))?,
                Arith::Rem => a
                    .checked_rem(b)
                    .ok_or_else(|| RowError(format!("Overflow in {a} % {b}")))?,
            };
            Value::Int(wrap_int(v, ty))
        }
        (Value::Float(a), Value::Float(b)) => {
            let v = match op {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
                Arith::Div | Arith::Rem if b == 0.0 => return Err(by_zero()),
                Arith::Div => a / b,
                Arith::Rem => a % b,
            };
            Value::Float(if ty == &DataType::Float32 {
                f64::from(v as f32)
            } else {
                v
            })
        }
        _ => Value::Null,
    })
}

fn compare(op: Compare, l: &Value, r: &Value) -> Value {
    match op {
        Compare::IsDistinctFrom | Compare::IsNotDistinctFrom => {
            let same = match (l.is_null(), r.is_null()) {
                (true, true) => true,
                (false, false) => order(l, r) == Some(Ordering::Equal),
                _ => false,
            };
            Value::Bool(same == matches!(op, Compare::IsNotDistinctFrom))
        }
        _ => match order(l, r) {
            None => Value::Null,
            Some(o) => Value::Bool(match op {
                Compare::Eq => o == Ordering::Equal,
                Compare::NotEq => o != Ordering::Equal,
                Compare::Lt => o == Ordering::Less,
                Compare::LtEq => o != Ordering::Greater,
                Compare::Gt => o == Ordering::Greater,
                Compare::GtEq => o != Ordering::Less,
                Compare::IsDistinctFrom | Compare::IsNotDistinctFrom => unreachable!(),
            }),
        },
    }
}

/// A calendar field of a timestamp without zone, counted in `unit`.
fn date_part(part: Part, unit: TimeUnit, t: i64) -> i64 {
    let per_second = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let seconds = t.div_euclid(per_second);
    match part {
        Part::Hour => seconds.rem_euclid(86_400) / 3_600,
        // 1970-01-01 was a Thursday; Sunday is 0.
        Part::DayOfWeek => (seconds.div_euclid(86_400) + 4).rem_euclid(7),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_fields_of_timestamps() {
        // 2023-11-14 22:13:20 UTC, a Tuesday; 1969-12-31 23:59:59, a Wednesday.
        assert_eq!(date_part(Part::Hour, TimeUnit::Second, 1_700_000_000), 22);
        assert_eq!(
            date_part(Part::DayOfWeek, TimeUnit::Second, 1_700_000_000),
            2
        );
        assert_eq!(date_part(Part::Hour, TimeUnit::Second, -1), 23);
        assert_eq!(date_part(Part::DayOfWeek, TimeUnit::Second, -1), 3);
        assert_eq!(
            date_part(Part::Hour, TimeUnit::Nanosecond, 1_700_000_000_000_000_000),
            22
        );
    }

    #[test]
    fn division_by_zero_fails_as_arrow_does() {
        for (l, r) in [
            (Value::Int(1), Value::Int(0)),
            (Value::Float(1.0), Value::Float(0.0)),
        ] {
            let ty = if matches!(l, Value::Int(_)) {
                DataType::Int64
            } else {
                DataType::Float64
            };
            assert!(arith(Arith::Div, &ty, l, r).is_err());
        }
    }
}
