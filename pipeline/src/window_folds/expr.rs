//! A folded window aggregate as a window function DataFusion runs in its
//! bounded window operator, under the original expression's name and type.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef, Schema};
use datafusion::common::Result;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::window::{StandardWindowExpr, WindowExpr};
use datafusion::physical_plan::windows::create_udwf_window_expr;

use super::fold::FoldEvaluator;
use super::recognise::{Fold, recognise};

/// The window function computing one fold; it keeps the field of the
/// expression it replaces, so the operator's schema does not change.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct FoldFunction {
    fold: Fold,
    field: FieldRef,
    signature: Signature,
}

impl WindowUDFImpl for FoldFunction {
    fn name(&self) -> &str {
        "rtp_window_fold"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(FoldEvaluator::new(self.fold)))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(
            self.field.as_ref().clone().with_name(field_args.name()),
        ))
    }
}

/// `expr` computed by its fold, when it has one; `input` is the window
/// operator's input schema.
pub(super) fn folded(expr: &Arc<dyn WindowExpr>, input: &Schema) -> Option<Arc<dyn WindowExpr>> {
    let (fold, args) = recognise(expr, input)?;
    let field = expr.field().ok()?;
    let arg_types: Vec<DataType> = args
        .iter()
        .map(|a| a.data_type(input))
        .collect::<Result<_>>()
        .ok()?;
    let function = FoldFunction {
        fold,
        field,
        signature: Signature::exact(arg_types, Volatility::Immutable),
    };
    let udwf = Arc::new(WindowUDF::new_from_impl(function));
    let standard =
        create_udwf_window_expr(&udwf, &args, input, expr.name().to_owned(), false).ok()?;
    Some(Arc::new(StandardWindowExpr::new(
        standard,
        expr.partition_by(),
        expr.order_by(),
        Arc::clone(expr.get_window_frame()),
    )))
}

/// Whether `expr` is computed by a fold.
#[cfg(test)]
pub(super) fn is_folded(expr: &Arc<dyn WindowExpr>) -> bool {
    use datafusion::physical_plan::windows::WindowUDFExpr;
    expr.as_any()
        .downcast_ref::<StandardWindowExpr>()
        .and_then(|s| {
            s.get_standard_func_expr()
                .as_any()
                .downcast_ref::<WindowUDFExpr>()
                .map(|u| u.fun().inner().as_ref().is::<FoldFunction>())
        })
        .unwrap_or(false)
}
