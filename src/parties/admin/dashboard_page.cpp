// The dashboard's page: static HTML with its own style and script. The script asks /figures every
// two seconds and draws what it says with DOM text (never markup from the figures) and SVG.
#include <string>
#include <string_view>

#include "parties/admin/dashboard.hpp"
#include "parties/common/web_page.hpp"

namespace ecash::admin {

namespace {

constexpr std::string_view kStyle = R"css(
:root{color-scheme:light;--ink:#1d2530;--soft:#5b6675;--line:#d9dee5;--card:#fff;--bg:#f3f5f8;--accent:#1f6feb;--bad:#b42318;--good:#067647}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
header{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.5rem;padding:1rem 1.5rem;background:var(--ink);color:#fff}
header h1{margin:0;font-size:1.25rem}
header p{margin:0;color:#c8d1dc}
main{padding:1rem 1.5rem;max-width:1200px;margin:0 auto}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.75rem}
.card,section.panel{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem}
.card h2,section.panel h2{margin:0 0 .25rem;font-size:.8rem;font-weight:600;text-transform:uppercase;letter-spacing:.04em;color:var(--soft)}
.big{margin:0;font-size:1.6rem;font-weight:650;font-variant-numeric:tabular-nums}
.small{margin:.15rem 0 0;color:var(--soft);font-size:.85rem}
section.panel{margin-top:.75rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:.75rem}
svg{display:block;width:100%;height:auto}
svg .axis{stroke:var(--line);stroke-width:1}
svg .line{fill:none;stroke:var(--accent);stroke-width:2}
svg .area{fill:var(--accent);opacity:.08}
svg text{fill:var(--soft);font-size:11px}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;color:var(--soft);font-weight:600}
td.num{text-align:right}
.ok{color:var(--good);font-weight:600}
.bad{color:var(--bad);font-weight:600}
code{font-size:.8rem;word-break:break-all}
)css";

constexpr std::string_view kScript = R"js(
(function(){
  'use strict';
  var SVG='http://www.w3.org/2000/svg';
  var $=function(id){return document.getElementById(id);};
  function set(id,text){var e=$(id);if(e)e.textContent=text;}
  function clear(e){while(e.firstChild)e.removeChild(e.firstChild);}
  function el(tag,text,cls){var e=document.createElement(tag);if(text!==undefined&&text!==null)e.textContent=String(text);if(cls)e.className=cls;return e;}
  function svg(tag,attrs){var e=document.createElementNS(SVG,tag);for(var k in attrs)e.setAttribute(k,attrs[k]);return e;}
  // Minor units as text, by the digits alone (no floating point near money): 6000 -> "60.00".
  function money(minor,exponent,code){
    var neg=minor<0,digits=String(Math.abs(minor));
    while(digits.length<=exponent)digits='0'+digits;
    var whole=digits.slice(0,digits.length-exponent),frac=digits.slice(digits.length-exponent);
    return (code?code+':':'')+(neg?'-':'')+whole+(exponent>0?'.'+frac:'');
  }
  function clock(t){return new Date(t*1000).toISOString().slice(11,19);}
  function age(s){return s<60?s+' s':s<3600?Math.floor(s/60)+' min':Math.floor(s/3600)+' h';}
  // A line chart of points [{t,v}] (v integers), drawn as SVG into the element with this id.
  function chart(id,points,label){
    var box=$(id);clear(box);
    var W=560,H=200,L=80,R=12,T=12,B=28;
    var s=svg('svg',{viewBox:'0 0 '+W+' '+H,role:'img','aria-label':box.getAttribute('aria-label')||''});
    s.appendChild(svg('line',{x1:L,y1:H-B,x2:W-R,y2:H-B,'class':'axis'}));
    s.appendChild(svg('line',{x1:L,y1:T,x2:L,y2:H-B,'class':'axis'}));
    if(points.length===0){var n=svg('text',{x:L+10,y:H/2});n.textContent='no figures yet';s.appendChild(n);box.appendChild(s);return;}
    var lo=points[0].v,hi=points[0].v,t0=points[0].t,t1=points[points.length-1].t;
    points.forEach(function(p){if(p.v<lo)lo=p.v;if(p.v>hi)hi=p.v;});
    if(lo>0)lo=0;if(hi===lo)hi=lo+1;if(t1===t0)t1=t0+1;
    var x=function(t){return L+(W-L-R)*(t-t0)/(t1-t0);},y=function(v){return H-B-(H-T-B)*(v-lo)/(hi-lo);};
    // One point so far: a level line across the chart.
    var d=points.length===1?'M'+L+' '+y(points[0].v).toFixed(1)+' H'+(W-R):
      points.map(function(p,i){return (i?'L':'M')+x(p.t).toFixed(1)+' '+y(p.v).toFixed(1);}).join(' ');
    s.appendChild(svg('path',{d:d+' V'+y(lo).toFixed(1)+' H'+(points.length===1?L:x(t0).toFixed(1))+' Z','class':'area'}));
    s.appendChild(svg('path',{d:d,'class':'line'}));
    [[hi,T+4],[lo,H-B]].forEach(function(a){var tx=svg('text',{x:L-6,y:a[1],'text-anchor':'end'});tx.textContent=label(a[0]);s.appendChild(tx);});
    [[t0,L,'start'],[t1,W-R,'end']].forEach(function(a){var tx=svg('text',{x:a[1],y:H-8,'text-anchor':a[2]});tx.textContent=clock(a[0]);s.appendChild(tx);});
    box.appendChild(s);
  }
  function row(table,cells){var tr=el('tr');cells.forEach(function(c){tr.appendChild(c instanceof Node?c:el('td',c));});table.appendChild(tr);}
  function draw(f){
    var roles=f.roles||{},bank=roles.bank||{},center=roles.center||{},clearing=roles.clearing||{};
    var e=f.exponent||0,code=f.currency||'';
    set('updated','updated '+clock(f.time)+' UTC');
    // Who answered.
    var list=$('roles');clear(list);
    ['bank','center','clearing'].forEach(function(name){
      var r=roles[name],li=el('li');li.appendChild(el('span',name+': '));
      if(!r)li.appendChild(el('span','not asked yet'));
      else if(r.error)li.appendChild(el('span','unreachable ('+r.error.code+': '+r.error.message+')','bad'));
      else li.appendChild(el('span','answering','ok'));
      var m=(f.last_minute||{})[name];
      if(m&&m.requests!==null)li.appendChild(el('span',' \u2014 '+m.requests+' requests, '+m.refused+' refused, '+m.failed+' failed in the last minute'));
      list.appendChild(li);
    });
    // A role that does not answer: its figures are unknown, not zero and not the last ones seen.
    var why=function(name){return 'unknown: the '+name+' does not answer';};
    var c=bank.error?null:bank.circulation;
    if(!c){
      ['in-circulation','payments','open-cases'].forEach(function(id){set(id,'?');});
      set('balanced',why('bank'));$('balanced').className='small bad';
      set('members','');set('paying-out','');
      var unknown=$('where');clear(unknown);row(unknown,[el('td',why('bank'),'bad')]);
    }
    if(c){
      var g=c.figures;
      set('in-circulation',c.in_circulation);
      set('balanced',c.balanced?'balanced: every cent accounted for':'NOT BALANCED');
      $('balanced').className='small '+(c.balanced?'ok':'bad');
      set('payments',String(g.payments));
      set('members',g.users+(g.users===1?' user, ':' users, ')+g.shops+(g.shops===1?' shop':' shops'));
      set('paying-out',g.paying_out+' being paid out');
      var where=$('where');clear(where);
      [['held by users','balances'],['owed by users (fraud cases)','owed'],['in flight (offline transfers)','in_flight'],
       ['offline reserve','offline_reserve'],['shops\u2019 unpaid sales','unpaid_sales'],['being paid out','paying_out']].forEach(function(p){
        row(where,[p[0],el('td',g[p[1]],'num')]);
      });
      row(where,[el('th','in circulation (deposited '+g.deposited+' \u2212 paid out '+g.paid_out+')'),el('th',c.in_circulation,'num')]);
    }
    if(f.payments_last_minute!==undefined&&f.payments_last_minute!==null)set('payments-per-minute',String(f.payments_last_minute));
    // Failed (an open outcome: a party out of reach, a store failing) against all requests; refused
    // by rule (no funds, a bad signature) told beside it.
    var asked=0,refused=0,failed=0,told=false;
    ['bank','center','clearing'].forEach(function(name){
      var m=(f.last_minute||{})[name];
      if(m&&m.requests!==null){told=true;asked+=m.requests;refused+=m.refused;failed+=m.failed;}
    });
    if(told){
      set('error-rate',asked>0?(100*failed/asked).toFixed(1)+' %':'0 %');
      set('requests',failed+' failed and '+refused+' refused of '+asked+' requests in the last minute');
    }
    if(center.error||!center.sagas){
      ['open-sagas','payouts-pending'].forEach(function(id){set(id,'?');});
      set('oldest-saga',why('center'));
    }
    if(!center.error&&center.sagas){
      set('open-sagas',String(center.sagas.open));
      set('oldest-saga',center.sagas.open>0?'oldest open for '+age(center.sagas.oldest_age):'none open');
      set('payouts-pending',String(center.sagas.payouts));
    }
    var cases=$('cases');clear(cases);
    var list2=bank.error?[]:bank.cases||[];
    if(bank.error||!bank.cases){row(cases,[el('td',why('bank'),'bad')]);}
    else if(list2.length===0){set('open-cases','0');row(cases,[el('td','No open fraud cases.')]);}
    else{
      set('open-cases',String(list2.length));
      var head=el('tr');['case','user','kind','opened','evidence','verified'].forEach(function(h){head.appendChild(el('th',h));});cases.appendChild(head);
      list2.forEach(function(k){
        var ev=[];if(k.counter!==undefined)ev.push('counter '+k.counter+' used twice');
        if(k.allowance_id)ev.push('allowance '+k.allowance_id);
        ev.push(k.transfers.length+' transfer(s): '+k.transfers.join(', '));
        var ok=el('td',k.evidence_verified?'signed evidence matches':'EVIDENCE DOES NOT MATCH',k.evidence_verified?'ok':'bad');
        row(cases,[el('td',k.case_id),el('td',k.user_id),k.kind,new Date(k.opened*1000).toISOString().replace('.000',''),ev.join('; '),ok]);
      });
    }
    var log=clearing.error?null:clearing.disclosure_log;
    if(!log){set('disclosures','?');var st=$('disclosure-log');st.textContent=why('clearing house');st.className='bad';}
    if(log){
      set('disclosures',String(log.entries));
      var status=$('disclosure-log');
      status.textContent=log.ok?'verified: every entry signed and chained'+(log.entries>0?' (head '+log.head+')':''):'BROKEN at entry '+log.first_bad+': '+log.problem;
      status.className=log.ok?'ok':'bad';
    }
    var h=f.history||[];
    chart('circulation-chart',h.filter(function(p){return p.in_circulation>=0;}).map(function(p){return {t:p.time,v:p.in_circulation};}),function(v){return money(v,e,code);});
    var rate=[];
    h.forEach(function(p,i){
      if(p.payments<0)return;
      var j=i;while(j>0&&h[j-1].time>p.time-60&&h[j-1].payments>=0)j--;
      var from=j>0&&h[j-1].payments>=0?h[j-1]:h[j];
      rate.push({t:p.time,v:p.payments>=from.payments?p.payments-from.payments:p.payments});
    });
    chart('payments-chart',rate,function(v){return String(v);});
  }
  function ask(){
    fetch('figures',{cache:'no-store'}).then(function(r){return r.json();}).then(function(f){draw(f);setTimeout(ask,2000);})
      .catch(function(){set('updated','the dashboard does not answer; trying again');setTimeout(ask,5000);});
  }
  ask();
})();
)js";

constexpr std::string_view kBody = R"html(
<header><h1>ecash: the operator&rsquo;s dashboard</h1><p id="updated" role="status" aria-live="polite">asking the roles&hellip;</p></header>
<main>
<div class="cards">
<div class="card"><h2>In circulation</h2><p class="big" id="in-circulation">&ndash;</p><p class="small" id="balanced"></p></div>
<div class="card"><h2>Payments</h2><p class="big" id="payments">&ndash;</p><p class="small"><span id="payments-per-minute">&ndash;</span> in the last minute</p></div>
<div class="card"><h2>Error rate</h2><p class="big" id="error-rate">&ndash;</p><p class="small" id="requests"></p></div>
<div class="card"><h2>Open sagas</h2><p class="big" id="open-sagas">&ndash;</p><p class="small" id="oldest-saga"></p></div>
<div class="card"><h2>Payouts pending</h2><p class="big" id="payouts-pending">&ndash;</p><p class="small" id="paying-out"></p></div>
<div class="card"><h2>Fraud cases open</h2><p class="big" id="open-cases">&ndash;</p><p class="small" id="members"></p></div>
</div>
<div class="charts">
<section class="panel"><h2>Money in circulation</h2><div id="circulation-chart" aria-label="money in circulation over the last hour"></div></section>
<section class="panel"><h2>Payments per minute</h2><div id="payments-chart" aria-label="payments in the minute before each moment"></div></section>
</div>
<section class="panel"><h2>Where the money is</h2><table id="where"></table></section>
<section class="panel"><h2>Open fraud cases, with their evidence</h2><table id="cases"></table></section>
<section class="panel"><h2>Disclosure log</h2><p><span id="disclosures">&ndash;</span> entries; <span id="disclosure-log">not read yet</span></p></section>
<section class="panel"><h2>Roles</h2><ul id="roles"></ul></section>
</main>
)html";

}  // namespace

const std::string& Dashboard::page() {
  static const std::string html =
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>ecash dashboard</title>\n<style>" +
      std::string(kStyle) + "</style>\n</head>\n<body>" + std::string(kBody) + "<script>" +
      std::string(kScript) + "</script>\n</body>\n</html>\n";
  return html;
}

const std::string& Dashboard::policy() {
  static const std::string policy = "default-src 'none'; style-src " + parties::csp_hash(kStyle) +
                                    "; script-src " + parties::csp_hash(kScript) +
                                    "; connect-src 'self'; img-src 'none'; base-uri 'none'; "
                                    "form-action 'none'; frame-ancestors 'none'";
  return policy;
}

}  // namespace ecash::admin
