//! The example producer service: `POST /send` and `/send-batch` write to Weir (see README.md).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    weir_examples::init_tracing();
    weir_examples::producer::run(weir_examples::Env::from_env(3001)?).await
}
