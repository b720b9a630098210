"""The coin universe: the top coins by market cap and what each venue calls them.

Real-world facts, kept in one table so provider modules agree on them. A provider module builds
its symbol map from its column; a blank means "not listed there". The simulator keeps its own
tables (sim/listings.py) and tests/test_sim_tables.py names every place the two differ.
Exchanges quote in USDT (Binance, OKX, KuCoin, Bybit) or USD (Coinbase, Kraken).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Coin:
    ticker: str
    name: str
    rank: int
    coingecko: str = ""
    coinpaprika: str = ""
    coincap: str = ""
    kraken: str = ""          # Kraken request altname; its result key may differ (see kraken.py)
    binance: bool = True      # listed as <T>USDT
    coinbase: bool = True     # listed as <T>-USD
    okx: bool = True          # listed as <T>-USDT
    kucoin: bool = True       # listed as <T>-USDT
    bybit: bool = True        # listed as <T>USDT
    cryptocompare: bool = True


COINS: tuple[Coin, ...] = (
    Coin("BTC", "Bitcoin", 1, "bitcoin", "btc-bitcoin", "bitcoin", "XBTUSD"),
    Coin("ETH", "Ethereum", 2, "ethereum", "eth-ethereum", "ethereum", "ETHUSD"),
    Coin("USDT", "Tether", 3, "tether", "usdt-tether", "tether", "USDTUSD",
         binance=False, okx=False, kucoin=False, bybit=False),
    Coin("XRP", "XRP", 4, "ripple", "xrp-xrp", "xrp", "XRPUSD"),
    Coin("BNB", "BNB", 5, "binancecoin", "bnb-binance-coin", "binance-coin", "",
         coinbase=False),
    Coin("SOL", "Solana", 6, "solana", "sol-solana", "solana", "SOLUSD"),
    Coin("USDC", "USDC", 7, "usd-coin", "usdc-usd-coin", "usd-coin", "USDCUSD", coinbase=False),
    Coin("DOGE", "Dogecoin", 8, "dogecoin", "doge-dogecoin", "dogecoin", "XDGUSD"),
    Coin("TRX", "TRON", 9, "tron", "trx-tron", "tron", "TRXUSD", coinbase=False),
    Coin("ADA", "Cardano", 10, "cardano", "ada-cardano", "cardano", "ADAUSD"),
    Coin("HYPE", "Hyperliquid", 11, "hyperliquid", "hype-hyperliquid", "hyperliquid", "",
         binance=False, coinbase=False),
    Coin("LINK", "Chainlink", 12, "chainlink", "link-chainlink", "chainlink", "LINKUSD"),
    Coin("XLM", "Stellar", 13, "stellar", "xlm-stellar", "stellar", "XLMUSD"),
    Coin("SUI", "Sui", 14, "sui", "sui-sui", "sui", "SUIUSD"),
    Coin("BCH", "Bitcoin Cash", 15, "bitcoin-cash", "bch-bitcoin-cash", "bitcoin-cash", "BCHUSD"),
    Coin("AVAX", "Avalanche", 16, "avalanche-2", "avax-avalanche", "avalanche", "AVAXUSD"),
    Coin("HBAR", "Hedera", 17, "hedera-hashgraph", "hbar-hedera-hashgraph", "hedera-hashgraph",
         "HBARUSD"),
    Coin("LTC", "Litecoin", 18, "litecoin", "ltc-litecoin", "litecoin", "LTCUSD"),
    Coin("TON", "Toncoin", 19, "the-open-network", "ton-toncoin", "toncoin", "TONUSD",
         coinbase=False),
    Coin("SHIB", "Shiba Inu", 20, "shiba-inu", "shib-shiba-inu", "shiba-inu", "SHIBUSD"),
    Coin("DOT", "Polkadot", 21, "polkadot", "dot-polkadot", "polkadot", "DOTUSD"),
    Coin("XMR", "Monero", 22, "monero", "xmr-monero", "monero", "XMRUSD",
         binance=False, coinbase=False, okx=False, kucoin=False, bybit=False),
    Coin("UNI", "Uniswap", 23, "uniswap", "uni-uniswap", "uniswap", "UNIUSD"),
    Coin("PEPE", "Pepe", 24, "pepe", "pepe-pepe", "pepe", "PEPEUSD"),
    Coin("AAVE", "Aave", 25, "aave", "aave-new", "aave", "AAVEUSD"),
    Coin("NEAR", "NEAR Protocol", 26, "near", "near-near-protocol", "near-protocol", "NEARUSD"),
    Coin("APT", "Aptos", 27, "aptos", "apt-aptos", "aptos", "APTUSD"),
    Coin("ICP", "Internet Computer", 28, "internet-computer", "icp-internet-computer",
         "internet-computer", "ICPUSD"),
    Coin("ETC", "Ethereum Classic", 29, "ethereum-classic", "etc-ethereum-classic",
         "ethereum-classic", "ETCUSD"),
    Coin("POL", "POL (ex-MATIC)", 30, "polygon-ecosystem-token", "pol-polygon-ecosystem-token",
         "polygon-ecosystem-token", "POLUSD"),
    Coin("ATOM", "Cosmos", 31, "cosmos", "atom-cosmos", "cosmos", "ATOMUSD"),
    Coin("FIL", "Filecoin", 32, "filecoin", "fil-filecoin", "filecoin", "FILUSD"),
    Coin("ARB", "Arbitrum", 33, "arbitrum", "arb-arbitrum", "arbitrum", "ARBUSD"),
    Coin("ONDO", "Ondo", 34, "ondo-finance", "ondo-ondo", "ondo", "ONDOUSD"),
    Coin("ALGO", "Algorand", 35, "algorand", "algo-algorand", "algorand", "ALGOUSD"),
    Coin("VET", "VeChain", 36, "vechain", "vet-vechain", "vechain", "",
         coinbase=False),
    Coin("RENDER", "Render", 37, "render-token", "rndr-render-token", "render-token", "RENDERUSD"),
    Coin("OP", "Optimism", 38, "optimism", "op-optimism", "optimism", "OPUSD"),
    Coin("INJ", "Injective", 39, "injective-protocol", "inj-injective-protocol",
         "injective-protocol", "INJUSD"),
    Coin("DAI", "Dai", 40, "dai", "dai-dai", "multi-collateral-dai", "DAIUSD",
         binance=False, bybit=False),
    Coin("TAO", "Bittensor", 41, "bittensor", "tao-bittensor", "bittensor", "TAOUSD",
         coinbase=False),
    Coin("ENA", "Ethena", 42, "ethena", "ena-ethena", "ethena", "ENAUSD"),
    Coin("WLD", "Worldcoin", 43, "worldcoin-wld", "wld-worldcoin", "worldcoin-org", "WLDUSD"),
    Coin("SEI", "Sei", 44, "sei-network", "sei-sei", "sei", "SEIUSD"),
    Coin("BONK", "Bonk", 45, "bonk", "bonk-bonk", "bonk1", "BONKUSD"),
    Coin("TIA", "Celestia", 46, "celestia", "tia-celestia", "celestia", "TIAUSD"),
    Coin("JUP", "Jupiter", 47, "jupiter-exchange-solana", "jup-jupiter", "jupiter", "JUPUSD"),
    Coin("FET", "Artificial Superintelligence Alliance", 48, "fetch-ai", "fet-fetch-ai",
         "fetch-ai", "FETUSD"),
    Coin("QNT", "Quant", 49, "quant-network", "qnt-quant", "quant", "QNTUSD", bybit=False),
    Coin("STX", "Stacks", 50, "blockstack", "stx-blockstack", "stacks", "STXUSD"),
)

BY_TICKER: dict[str, Coin] = {c.ticker: c for c in COINS}


def column(attr: str) -> dict[str, str]:
    """Ticker -> id for an aggregator column (coingecko, coinpaprika, coincap, kraken)."""
    return {c.ticker: getattr(c, attr) for c in COINS if getattr(c, attr)}


def listed(attr: str, fmt: str) -> dict[str, str]:
    """Ticker -> pair for an exchange that lists a coin as `fmt.format(t=ticker)`."""
    return {c.ticker: fmt.format(t=c.ticker) for c in COINS if getattr(c, attr)}
