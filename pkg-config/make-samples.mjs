// Writes the demo's sample data (www/samples/), written for this project and released under CC0:
//   support-tickets.csv  customer messages to a fictional online shop, columns text,label; four
//                        intents (billing, delivery, technical, account), 360 rows
//   shop-faq.jsonl       a chat set for the shop's assistant: {"messages": [user, assistant]}
//                        rows, several phrasings of each question, 120 rows
//   shop-entities.conll  named entities in messages about the shop (CoNLL: a word and its IOB2
//                        tag per line; PER, ORG, LOC, PRODUCT), 160 sentences
//   shop-questions.json  questions about the shop's help texts with their answers (SQuAD v1.1
//                        JSON), 48 questions on 16 paragraphs
//   shop-help.txt        the shop's help texts, one per line (continued masked-LM pretraining)
// Deterministic (a seeded generator): `node pkg-config/make-samples.mjs` rewrites the same files.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const OUT = join(resolve(fileURLToPath(new URL("..", import.meta.url))), "www/samples");

/** mulberry32: a small seeded generator, so the files never change between runs. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(20261201);
const pick = (xs) => xs[Math.floor(random() * xs.length)];

const ITEMS = ["desk lamp", "rain jacket", "coffee grinder", "yoga mat", "backpack", "kettle", "phone case", "wool scarf", "bike light", "water bottle"];
const OPENERS = ["", "", "", "Hi, ", "Hello, ", "Hi there, ", "Good morning, ", "Hey, "];
const CLOSERS = ["", "", "", " Thanks.", " Thank you!", " Please help.", " Can you look into it?", " Any idea?"];

/** Messages per intent; {item}, {order} and {n} are filled in. */
const TICKETS = {
  billing: [
    "I was charged twice for order {order}",
    "my card was billed {n} euros but the order total was lower",
    "can I get an invoice with my company's VAT number for order {order}",
    "the discount code SPRING20 was not applied at checkout",
    "I returned the {item} two weeks ago and still have no refund",
    "why is there a pending charge on my card when I cancelled the order",
    "please refund the shipping fee, the parcel arrived a week late",
    "the price of the {item} dropped the day after I bought it, can I get the difference",
    "my payment failed but the money left my account",
    "I need a copy of the receipt for order {order}",
    "can I pay for the {item} in three instalments",
    "you charged me for express delivery but it came by standard post",
    "my gift card balance is wrong, it should be {n} euros",
    "I was billed for a subscription I never signed up for",
    "how long does a refund to PayPal take",
    "the invoice shows the wrong billing address",
    "I was charged in dollars instead of euros",
    "please cancel the charge for the {item}, I never received it",
  ],
  delivery: [
    "where is my order {order}, it was supposed to arrive on Monday",
    "the tracking number for order {order} does not work",
    "my {item} arrived damaged, the box was crushed",
    "the parcel says delivered but nothing came to my door",
    "can I change the delivery address for order {order}",
    "I received a {item} but I ordered something else",
    "do you ship to Norway",
    "my order has been stuck in the warehouse for {n} days",
    "part of my order is missing, only the {item} came",
    "can the courier leave the parcel with a neighbour",
    "how much is next-day delivery",
    "the delivery driver never rang the bell and took the parcel back",
    "I'll be away next week, can you hold my order {order}",
    "the {item} was left in the rain outside my building",
    "is it possible to pick up the order from a locker instead",
    "the estimated delivery date keeps moving",
    "I need the {item} before Friday, can you speed up shipping",
    "how do I send the {item} back for an exchange",
  ],
  technical: [
    "the app crashes every time I open my basket",
    "I can't add the {item} to my cart, the button does nothing",
    "the checkout page shows an error 500",
    "your website will not load on my phone",
    "the size chart link on the {item} page is broken",
    "I keep getting logged out when I switch tabs",
    "the product photos do not load, just grey boxes",
    "the search returns nothing even for {item}",
    "the payment page freezes after I enter my card",
    "I get a blank screen after placing order {order}",
    "the app says my password is wrong but it works on the website",
    "notifications from the app arrive in the wrong language",
    "the filter by price does not work",
    "your confirmation email went to spam and the links are broken",
    "the wishlist lost all my saved items after the update",
    "the {item} page says out of stock but the app says available",
    "the captcha at checkout never accepts my answer",
    "the order history page takes forever to load",
  ],
  account: [
    "I forgot my password and the reset email never arrives",
    "please delete my account and all my data",
    "how do I change the email address on my account",
    "someone else placed an order from my account",
    "I want to unsubscribe from the newsletter",
    "my account was locked after too many login attempts",
    "can I merge my two accounts",
    "how do I turn on two-factor authentication",
    "I can't update my phone number in my profile",
    "I signed up with Google and now I can't log in with email",
    "please change the name on my account",
    "how do I download all the data you have about me",
    "my loyalty points disappeared from my account",
    "I never got the account verification email",
    "can I have a business account for my shop",
    "I want to remove my saved card from my profile",
    "the login link says it has expired",
    "how do I change my default delivery address in my profile",
  ],
};

const QUESTION = /^(how|why|where|do|is|what|when)\b|\b(can|could) (you|i|the)\b/i;

function ticket(template) {
  const text = template
    .replaceAll("{item}", pick(ITEMS))
    .replaceAll("{order}", `#${Math.floor(10000 + random() * 89999)}`)
    .replaceAll("{n}", String(Math.floor(3 + random() * 60)));
  const opener = pick(OPENERS);
  const body = opener ? text : text[0].toUpperCase() + text.slice(1);
  const closer = pick(CLOSERS);
  const end = QUESTION.test(text) ? "?" : pick(closer ? [".", "!"] : [".", ".", "!", ""]);
  return `${opener}${body}${end}${closer}`;
}

const csvCell = (s) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

function tickets() {
  const rows = [];
  const seen = new Set();
  for (let round = 0; round < 5; round++) {
    for (const [label, templates] of Object.entries(TICKETS)) {
      for (const t of templates) {
        let text = ticket(t);
        while (seen.has(text)) text = ticket(t); // every row distinct
        seen.add(text);
        rows.push([text, label]);
      }
    }
  }
  // shuffled (Fisher-Yates), so a validation split gets every class
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return "text,label\n" + rows.map((r) => r.map(csvCell).join(",")).join("\n") + "\n";
}

/** The assistant of "Brightleaf", a fictional online shop: questions in three phrasings, one answer. */
const FAQ = [
  [["What are your opening hours?", "When is customer service open?", "what time can I reach support"], "Our customer service team is available Monday to Friday, 8:00 to 18:00, and Saturday 9:00 to 13:00 (Central European Time). The shop itself is open online around the clock."],
  [["How long does delivery take?", "when will my order arrive", "How fast do you ship?"], "Standard delivery takes 2 to 4 working days within the EU. Next-day delivery is available for orders placed before 14:00 on working days."],
  [["How much is shipping?", "Is delivery free?", "what does shipping cost"], "Standard shipping is free on orders over 40 euros; below that it costs 4.90 euros. Next-day delivery costs 9.90 euros."],
  [["How do I return an item?", "can I send something back", "What is your return policy?"], "You can return any unused item within 30 days. Open Orders in your account, choose Return next to the item, and print the free return label."],
  [["When will I get my refund?", "how long do refunds take", "I returned something, where is my money?"], "Refunds are issued within 5 working days after your return reaches our warehouse. Your bank may need another 2 to 3 days to show it."],
  [["Do you ship outside the EU?", "can you deliver to Switzerland", "Do you deliver internationally?"], "We deliver to all EU countries, plus Norway, Switzerland and the United Kingdom. Customs duties outside the EU are paid on delivery."],
  [["How do I track my order?", "where can I see my parcel", "Is there a tracking number?"], "You get a tracking link by email as soon as your parcel leaves our warehouse. You can also find it under Orders in your account."],
  [["Can I change my order?", "I want to add something to my order", "how do I edit an order I already placed"], "You can change or cancel an order within one hour of placing it, under Orders in your account. After that it is already being packed."],
  [["Which payment methods do you accept?", "can I pay with PayPal", "How can I pay?"], "We accept Visa, Mastercard, American Express, PayPal, Apple Pay, Google Pay and bank transfer."],
  [["Can I pay in instalments?", "do you offer pay later", "Is there a payment plan?"], "Yes: at checkout choose Pay in 3 to split orders over 60 euros into three monthly payments without interest."],
  [["I forgot my password", "how do I reset my password", "I can't log in"], "Choose Forgot password on the login page and enter your email address. The reset link arrives within a few minutes and stays valid for one hour; check your spam folder too."],
  [["How do I delete my account?", "please remove my data", "can I close my account"], "Go to Account, then Privacy, and choose Delete account. We remove your personal data within 30 days, except invoices we must keep by law."],
  [["Do you have a loyalty programme?", "what are Brightleaf points", "do I get rewards for buying"], "Every euro you spend earns one Brightleaf point. 100 points give you a 5 euro voucher, and members get early access to sales."],
  [["Are your products sustainable?", "is the packaging recyclable", "what about the environment"], "All our packaging is made from recycled cardboard and paper tape, and we offset the emissions of every delivery. Product pages list the materials of each item."],
  [["Do you sell gift cards?", "can I buy a voucher for a friend", "how do gift cards work"], "Yes, digital gift cards from 10 to 200 euros. They are sent by email on the date you choose and are valid for three years."],
  [["My item arrived damaged", "the product is broken", "what if something arrives damaged"], "We are sorry! Send us a photo of the item and the box through Orders, then Report a problem. We send a replacement or refund you in full, and you keep nothing broken."],
  [["Is there a warranty?", "how long is the guarantee", "what if it stops working after a few months"], "All products have a two-year warranty. If something stops working, contact us with your order number and we repair or replace it."],
  [["Can I pick up my order?", "do you have click and collect", "is there a shop I can visit"], "We are online only, but you can choose a parcel locker or pickup point at checkout; your parcel waits there for 7 days."],
  [["How do I use a discount code?", "where do I enter a voucher", "my promo code"], "Enter the code in the Discount code field on the checkout page and choose Apply. Only one code can be used per order."],
  [["Do you have a newsletter?", "how do I unsubscribe from emails", "stop sending me emails"], "You can subscribe or unsubscribe at any time under Account, then Email preferences, or with the link at the bottom of every newsletter."],
  [["What sizes do you have?", "is there a size guide", "how do I choose my size"], "Every clothing page has a size guide with measurements in centimetres. If you are between two sizes, we recommend the larger one."],
  [["Can I get an invoice for my company?", "I need an invoice with VAT", "do you do business invoices"], "Yes: add your company name and VAT number under Account, then Billing, before ordering. The invoice is in your account once the order ships."],
  [["Are items in stock?", "when will this be available again", "the product is sold out"], "Product pages show live stock. For sold-out items, choose Notify me and we email you as soon as they are back."],
  [["How do I contact you?", "what is your phone number", "can I talk to a person"], "Write to help@brightleaf.example or call +49 30 1234 5678 during opening hours. You can also chat with a person here by typing agent."],
  [["Is my payment secure?", "do you store my card", "is it safe to pay on your site"], "Payments are processed by our certified payment provider; we never see or store your full card number. You can remove saved cards under Account, then Payment."],
  [["Can I order by phone?", "can you take my order over the phone", "I don't want to order online"], "Yes, call us during opening hours and we place the order for you; you pay by bank transfer or by a payment link we email you."],
  [["Do you offer student discounts?", "is there a discount for students", "student price"], "Students get 10 percent off every order. Verify your student status once under Account, then Discounts, and it is applied automatically."],
  [["What if I'm not home for the delivery?", "nobody will be home", "can the courier leave it somewhere"], "The courier tries a neighbour or leaves a card; you can also choose a safe place or a pickup point from the tracking link before delivery."],
  [["Can I exchange an item?", "I want a different size", "how do exchanges work"], "Start a return for the item and place a new order for the size or colour you want; that way you get it fastest. Returns are free."],
  [["Who are you?", "are you a real person", "what can you help me with"], "I'm the Brightleaf assistant. I can answer questions about orders, delivery, returns, payments and your account. Type agent to talk to a person."],
  [["Do you deliver on weekends?", "is there Saturday delivery", "can I get it on Sunday"], "Parcels are delivered Monday to Saturday. Saturday delivery can be chosen at checkout for 4.90 euros in most cities."],
  [["My discount code doesn't work", "the voucher is not accepted", "why is my code invalid"], "Codes are case sensitive and most have a minimum order value and an end date. If it still fails, send us the code and we will check it."],
  [["Can I cancel my order?", "I want to cancel", "how do I cancel an order"], "Within one hour of ordering you can cancel under Orders in your account. After that, wait for the parcel and return it for free."],
  [["Where are you based?", "where do you ship from", "which country are you in"], "Brightleaf is based in Berlin, and every order ships from our warehouse in Leipzig, Germany."],
  [["Do you have an app?", "is there a mobile app", "can I shop on my phone"], "Yes, the Brightleaf app is free for Android and iOS, with order tracking and app-only offers. The website also works on any phone."],
  [["What happens to my old products?", "do you recycle old items", "take-back programme"], "Send us any old Brightleaf product with the free take-back label from your account; we recycle it and give you 50 points."],
  [["How do I leave a review?", "can I rate a product", "where do I write a review"], "Open the product page or your order and choose Write a review. Reviews appear after a short check, usually within a day."],
  [["I received the wrong item", "this is not what I ordered", "you sent me something else"], "Sorry about that! Report it under Orders, then Report a problem. We send the right item right away and collect the wrong one for free."],
  [["Thank you!", "thanks for your help", "great, that's all"], "You're welcome! If anything else comes up, I'm here. Have a lovely day."],
  [["Hello", "hi there", "good morning"], "Hello! I'm the Brightleaf assistant. How can I help you today: an order, a delivery, a return or your account?"],
];

function faq() {
  return FAQ.flatMap(([questions, answer]) =>
    questions.map((q) => JSON.stringify({ messages: [{ role: "user", content: q }, { role: "assistant", content: answer }] })),
  ).join("\n") + "\n";
}

const PEOPLE = ["Anna Schmidt", "Lukas", "Maria Rossi", "Jonas Weber", "Sofia", "Tom Becker", "Elena Novak", "Paul", "Clara Jensen", "Mehmet Yilmaz", "Ines", "David Okafor"];
const CITIES = ["Berlin", "Leipzig", "Munich", "Vienna", "Zurich", "Hamburg", "Prague", "Oslo", "Lyon", "Amsterdam"];
const COMPANIES = ["Brightleaf", "DHL", "PayPal", "Hermes", "Visa", "Google Pay", "UPS", "Klarna"];
const PRODUCTS = ["Aurora desk lamp", "Trailmate backpack", "Nimbus rain jacket", "Barista Pro grinder", "Zen yoga mat", "Polar bottle"];

/** Sentences with slots {PER}, {LOC}, {ORG}, {PRODUCT}; words are split on spaces. */
const ENTITY_TEMPLATES = [
  "{PER} ordered the {PRODUCT} from {ORG} last week .",
  "My parcel from {ORG} is stuck in {LOC} .",
  "Please send the {PRODUCT} to {PER} in {LOC} .",
  "{PER} says the {PRODUCT} arrived broken .",
  "Does {ORG} deliver to {LOC} on Saturdays ?",
  "I paid with {ORG} but {ORG} shows no order .",
  "Hi , this is {PER} , I live in {LOC} and my {PRODUCT} never came .",
  "The courier from {ORG} left my {PRODUCT} with {PER} next door .",
  "Can I return the {PRODUCT} at a pickup point in {LOC} ?",
  "{PER} and {PER} both want a {PRODUCT} for the office in {LOC} .",
  "Is the {PRODUCT} back in stock ?",
  "We are moving from {LOC} to {LOC} next month .",
  "thanks , the {PRODUCT} is great !",
  "Your warehouse in {LOC} shipped the wrong colour .",
];

/** One CoNLL sentence from a template: every word and its IOB2 tag. */
function tagged(template) {
  const lines = [];
  for (const word of template.split(" ")) {
    const slot = /^\{(PER|LOC|ORG|PRODUCT)\}$/.exec(word);
    if (!slot) {
      lines.push(`${word} O`);
      continue;
    }
    const kind = slot[1];
    const value = pick({ PER: PEOPLE, LOC: CITIES, ORG: COMPANIES, PRODUCT: PRODUCTS }[kind]);
    value.split(" ").forEach((w, i) => lines.push(`${w} ${i === 0 ? "B" : "I"}-${kind}`));
  }
  return lines.join("\n");
}

function entitySentences() {
  const out = [];
  for (let i = 0; i < 160; i++) out.push(tagged(ENTITY_TEMPLATES[i % ENTITY_TEMPLATES.length]));
  return out.join("\n\n") + "\n";
}

/** Questions on the FAQ's answers (by index into FAQ), each with its answer's exact words there. */
const QUESTIONS = [
  [0, [["When is customer service open on Saturday?", "9:00 to 13:00"], ["Which time zone are the opening hours in?", "Central European Time"], ["When is the online shop open?", "around the clock"]]],
  [1, [["How long does standard delivery take?", "2 to 4 working days"], ["Until when must I order for next-day delivery?", "before 14:00"], ["Where does standard delivery take 2 to 4 days?", "within the EU"]]],
  [2, [["From what order value is shipping free?", "40 euros"], ["What does shipping cost below that?", "4.90 euros"], ["How much is next-day delivery?", "9.90 euros"]]],
  [3, [["How long do I have to return an item?", "30 days"], ["Where do I start a return?", "Open Orders in your account"], ["What do I print for a return?", "the free return label"]]],
  [4, [["When are refunds issued?", "within 5 working days after your return reaches our warehouse"], ["How long may the bank take to show a refund?", "another 2 to 3 days"], ["What must reach the warehouse first?", "your return"]]],
  [5, [["Which countries outside the EU do you deliver to?", "Norway, Switzerland and the United Kingdom"], ["When are customs duties paid?", "on delivery"], ["Do you deliver to all EU countries?", "We deliver to all EU countries"]]],
  [7, [["How long after ordering can I change an order?", "within one hour"], ["Where do I change an order?", "under Orders in your account"], ["What happens to an order after an hour?", "it is already being packed"]]],
  [8, [["Which cards do you accept?", "Visa, Mastercard, American Express"], ["Can I pay by bank transfer?", "bank transfer"], ["Which wallets can I pay with?", "PayPal, Apple Pay, Google Pay"]]],
  [9, [["What is the checkout option for instalments called?", "Pay in 3"], ["From what amount can I pay in instalments?", "over 60 euros"], ["Do instalments cost interest?", "without interest"]]],
  [10, [["How long is the reset link valid?", "one hour"], ["What do I choose on the login page?", "Forgot password"], ["Where else should I look for the reset email?", "your spam folder"]]],
  [11, [["How soon is personal data removed?", "within 30 days"], ["What is kept after deleting an account?", "invoices we must keep by law"], ["Where is the Delete account option?", "Go to Account, then Privacy"]]],
  [12, [["How many points does a euro earn?", "one Brightleaf point"], ["What do 100 points give?", "a 5 euro voucher"], ["What do members get early access to?", "sales"]]],
  [14, [["What values do gift cards come in?", "from 10 to 200 euros"], ["How long are gift cards valid?", "three years"], ["How are gift cards sent?", "by email"]]],
  [16, [["How long is the warranty?", "two-year warranty"], ["What should I send when something stops working?", "your order number"], ["What do you do with a broken product?", "we repair or replace it"]]],
  [23, [["What is the support email address?", "help@brightleaf.example"], ["What is the phone number?", "+49 30 1234 5678"], ["What do I type to chat with a person?", "agent"]]],
  [33, [["Where is Brightleaf based?", "Berlin"], ["Where is the warehouse?", "Leipzig, Germany"], ["Which orders ship from Leipzig?", "every order"]]],
];

function squad() {
  const paragraphs = QUESTIONS.map(([index, qas], p) => {
    const context = FAQ[index][1];
    return {
      context,
      qas: qas.map(([question, answer], q) => {
        const start = context.indexOf(answer);
        if (start < 0) throw new Error(`sample QA: "${answer}" is not in "${context}"`);
        return { id: `shop-${p}-${q}`, question, answers: [{ text: answer, answer_start: start }] };
      }),
    };
  });
  return JSON.stringify({ version: "1.1", data: [{ title: "Brightleaf help", paragraphs }] }, null, 1) + "\n";
}

const help = () => FAQ.map(([, answer]) => answer).join("\n") + "\n";

mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, "support-tickets.csv"), tickets());
writeFileSync(join(OUT, "shop-faq.jsonl"), faq());
writeFileSync(join(OUT, "shop-entities.conll"), entitySentences());
writeFileSync(join(OUT, "shop-questions.json"), squad());
writeFileSync(join(OUT, "shop-help.txt"), help());
console.log(`wrote ${OUT}: support-tickets.csv, shop-faq.jsonl, shop-entities.conll, shop-questions.json, shop-help.txt`);
