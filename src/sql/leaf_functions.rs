//! Array sizes computed next to the scan.
//!
//! DataFusion moves expressions marked [`ExpressionPlacement::MoveTowardsLeafNodes`] below
//! joins, filters and sorts (its `extract_leaf_expressions` rules), so only their results
//! travel through the plan. Its built-in `array_length` and `cardinality` keep the default
//! placement, so `sum(array_length(s.entities))` over a join carried every entity list through
//! the join's repartition and hash table and measured the lists afterwards. Both only read a
//! list's offsets and turn a list into one integer: this wraps them, unchanged, with the leaf
//! placement whenever their arguments are columns or literals.

use std::sync::Arc;

use deltalake::datafusion::arrow::array::{Array as _, AsArray as _, UInt64Array};
use deltalake::datafusion::arrow::datatypes::{DataType, FieldRef};
use deltalake::datafusion::common::Result;
use deltalake::datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use deltalake::datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExpressionPlacement, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature,
};
use deltalake::datafusion::prelude::SessionContext;

/// The functions wrapped, by name.
const LEAF_FUNCTIONS: [&str; 2] = ["array_length", "cardinality"];

/// Re-registers [`LEAF_FUNCTIONS`] in `ctx` with the leaf placement.
pub fn register(ctx: &SessionContext) {
    for name in LEAF_FUNCTIONS {
        if let Some(inner) = ctx.state().scalar_functions().get(name).cloned() {
            ctx.register_udf(ScalarUDF::new_from_impl(LeafUdf {
                inner: (*inner).clone(),
            }));
        }
    }
}

/// `array_length(list)` from the list's offsets. The built-in walks the rows and slices each
/// list out (about 300 ns a row for a list of structs); the answer is the same: the offsets'
/// differences, null where the list is null. `None` for every other shape (a scalar, a second
/// argument, a fixed-size list), which the built-in handles.
fn list_lengths(args: &[ColumnarValue]) -> Option<ColumnarValue> {
    let [ColumnarValue::Array(array)] = args else {
        return None;
    };
    let (lengths, nulls): (Vec<u64>, _) = match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let lengths = list.offsets().lengths().map(|n| n as u64).collect();
            (lengths, list.nulls().cloned())
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            let lengths = list.offsets().lengths().map(|n| n as u64).collect();
            (lengths, list.nulls().cloned())
        }
        _ => return None,
    };
    Some(ColumnarValue::Array(Arc::new(UInt64Array::new(
        lengths.into(),
        nulls,
    ))))
}

/// A built-in function, unchanged but for where the optimizer may place it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct LeafUdf {
    inner: ScalarUDF,
}

impl ScalarUDFImpl for LeafUdf {
    fn name(&self) -> &str {
        self.inner.inner().name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.inner().aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.inner().signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.inner().return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if self.inner.name() == "array_length" {
            if let Some(lengths) = list_lengths(&args.args) {
                return Ok(lengths);
            }
        }
        self.inner.inner().invoke_with_args(args)
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.inner().simplify(args, info)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.inner().documentation()
    }

    fn placement(&self, args: &[ExpressionPlacement]) -> ExpressionPlacement {
        let column = args.contains(&ExpressionPlacement::Column);
        let plain = args.iter().all(|p| {
            matches!(
                p,
                ExpressionPlacement::Column | ExpressionPlacement::Literal
            )
        });
        if column && plain {
            ExpressionPlacement::MoveTowardsLeafNodes
        } else {
            ExpressionPlacement::KeepInPlace
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::datafusion::arrow::array::{Array, ListArray};
    use deltalake::datafusion::arrow::datatypes::Int32Type;

    /// The built-in `array_length` over the same column is the oracle.
    #[tokio::test]
    async fn offsets_give_the_builtin_lengths() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2), None]),
            None,
            Some(vec![]),
            Some(vec![Some(7)]),
        ]);
        let array: deltalake::datafusion::arrow::array::ArrayRef = Arc::new(list);
        let args = [ColumnarValue::Array(array.clone())];
        let ColumnarValue::Array(got) = list_lengths(&args).expect("a list column") else {
            panic!("an array")
        };

        let ctx = SessionContext::new();
        let builtin = ctx.state().scalar_functions()["array_length"].clone();
        register(&ctx);
        let wrapped = ctx.state().scalar_functions()["array_length"].clone();
        assert_ne!(builtin, wrapped, "registered over the built-in");
        let batch = deltalake::datafusion::arrow::array::RecordBatch::try_from_iter([("l", array)])
            .unwrap();
        ctx.register_batch("t", batch).unwrap();
        let want = ctx
            .sql("select array_length(l) as n from t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        // The query above ran the wrapper; the built-in itself, on the same column:
        let field = Arc::new(deltalake::datafusion::arrow::datatypes::Field::new(
            "l",
            args[0].data_type(),
            true,
        ));
        let direct = builtin
            .invoke_with_args(ScalarFunctionArgs {
                args: args.to_vec(),
                arg_fields: vec![field],
                number_rows: 4,
                return_field: Arc::new(deltalake::datafusion::arrow::datatypes::Field::new(
                    "n",
                    DataType::UInt64,
                    true,
                )),
                config_options: Default::default(),
            })
            .unwrap()
            .into_array(4)
            .unwrap();
        assert_eq!(got.as_ref(), direct.as_ref());
        assert_eq!(want[0].column(0).as_ref(), direct.as_ref());
        assert_eq!(got.null_count(), 1);
    }
}
