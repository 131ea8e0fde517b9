/**
 * The confusion matrix as a picture: a Vega-Lite heatmap (rows: true class, columns:
 * predicted; colour: share of the true class; each cell labelled with its count), rendered
 * headless to SVG by Vega, no browser or canvas needed.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { EvalReport } from './metrics.ts';

export async function confusionSvg(r: EvalReport, title: string): Promise<string> {
  const values = r.confusion.flatMap((row, t) => {
    const support = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => ({ truth: r.classes[t], predicted: r.classes[p], count, share: support ? count / support : 0 }));
  });
  const side = Math.min(40, Math.max(12, Math.floor(600 / r.classes.length)));
  const spec: vl.TopLevelSpec = {
    title,
    background: 'white',
    data: { values },
    width: side * r.classes.length,
    height: side * r.classes.length,
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: r.classes, title: 'predicted class' },
      y: { field: 'truth', type: 'nominal', sort: r.classes, title: 'true class' },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'share', type: 'quantitative', scale: { domain: [0, 1], scheme: 'blues' }, title: 'share of true class' } } },
      ...(r.classes.length <= 20
        ? [{ mark: { type: 'text' as const, fontSize: 11 }, encoding: { text: { field: 'count', type: 'quantitative' as const }, color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' } } }]
        : []),
    ],
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
